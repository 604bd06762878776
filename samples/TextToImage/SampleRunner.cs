using System.Diagnostics;
using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Imaging.Skia;

namespace Diffusion.Samples;

/// <summary>What the three samples share: parse, load, generate, write PNGs. Each sample only adds its inputs.</summary>
internal static class SampleRunner
{
    /// <summary>Runs a sample; <paramref name="addInputs"/> adds the task's inputs (init image, mask) to the options.</summary>
    /// <returns>The process exit code: 0 done, 1 a library error, 2 a bad command line.</returns>
    public static int Run(string[] args, string usage, SampleArguments defaults, Func<SampleArguments, GenerationOptions, GenerationOptions> addInputs)
    {
        SampleArguments arguments;
        try
        {
            arguments = SampleArguments.Parse(args, defaults);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine(ex.Message);
            Console.Error.WriteLine(usage);
            return 2;
        }
        if (arguments.ShowHelp)
        {
            Console.WriteLine(usage);
            return 0;
        }

        try
        {
            var session = new SessionSettings
            {
                Provider = ExecutionProvider.Parse(arguments.Provider),
                IntraOpThreads = arguments.Threads,
            };
            var loadWatch = Stopwatch.StartNew();
            using var pipeline = StableDiffusionPipeline.Load(arguments.Model, new PipelineSettings
            {
                Session = session,
                UNetModelPath = arguments.UNet,
                Loras = arguments.Loras,
                LoraDirectory = arguments.LoraDirectory,
            });
            Console.WriteLine($"Loaded {arguments.Model} in {loadWatch.Elapsed.TotalSeconds:F2} s");

            IScheduler? scheduler = arguments.Scheduler is null
                ? null
                : SchedulerCatalog.Create(arguments.Scheduler, pipeline.Scheduler.Config);
            var options = new GenerationOptions
            {
                Prompt = arguments.Prompt,
                NegativePrompt = arguments.NegativePrompt,
                PromptSyntax = arguments.Weighted ? PromptSyntax.Weighted : PromptSyntax.Plain,
                Steps = arguments.Steps,
                GuidanceScale = arguments.Guidance,
                Seed = arguments.Seed,
                Width = arguments.Width,
                Height = arguments.Height,
                ImagesPerPrompt = arguments.Count,
                RandomSource = arguments.Random,
                Scheduler = scheduler,
            };
            options = addInputs(arguments, options);
            Console.WriteLine($"Scheduler: {(scheduler ?? pipeline.Scheduler).GetType().Name}, random source: {options.RandomSource}");

            GenerationResult result = pipeline.Generate(options, new ConsoleProgress());
            Console.WriteLine();
            Console.WriteLine($"Seed {result.Seed}; {result.DenoisingSteps} denoising steps; {result.Timings}");
            foreach (var report in result.LoraReports)
                Console.WriteLine($"LoRA: {report}");
            if (result.PromptTruncated)
                Console.WriteLine("Warning: the prompt was longer than 77 tokens and was truncated (--weighted takes any length).");

            for (int i = 0; i < result.Images.Count; i++)
            {
                string path = result.Images.Count == 1 ? arguments.Output : NumberedPath(arguments.Output, i);
                string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
                if (folder is not null)
                    Directory.CreateDirectory(folder);
                SkiaImageCodec.Save(result.Images[i], path);
                Console.WriteLine($"Wrote {path} ({result.Images[i].Width}x{result.Images[i].Height})");
            }
            Console.WriteLine($"Total time {result.Timings.Total.TotalSeconds:F2} s");
            return 0;
        }
        catch (DiffusionException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 1;
        }
    }

    private static string NumberedPath(string path, int index) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}-{index}{Path.GetExtension(path)}");
}
