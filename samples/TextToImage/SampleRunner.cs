using System.CommandLine;
using System.Diagnostics;
using Diffusion.CommandLine;
using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Families;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Imaging.Skia;

namespace Diffusion.Samples;

/// <summary>What the samples share: parse (System.CommandLine, the options of Diffusion.CommandLine), check, load, generate, write images.</summary>
internal static class SampleRunner
{
    /// <summary>Runs a sample; <paramref name="addInputs"/> adds the task's inputs (init image, mask) to the options.</summary>
    /// <returns>The process exit code: 0 done (or --help), 1 a library error, 2 a bad command line.</returns>
    public static int Run(string[] args, string description, GenerationArguments defaults, bool imageInputs, bool maskInputs,
        Func<GenerationArguments, GenerationOptions, GenerationOptions> addInputs)
    {
        var commandLine = new GenerationCommandLine(defaults, imageInputs, maskInputs);
        var root = new RootCommand(description);
        commandLine.AddTo(root);
        root.SetAction(parsed => Generate(commandLine.Bind(parsed), addInputs));
        return CommandLineRunner.Run(root, args);
    }

    private static int Generate(GenerationArguments arguments, Func<GenerationArguments, GenerationOptions, GenerationOptions> addInputs)
    {
        // Everything the command line decides is checked before the model loads: the output path, the inputs, the options.
        if (OutputPath.Check(arguments.Output) is string outputError)
        {
            Console.Error.WriteLine($"error: {outputError}");
            return 2;
        }
        GenerationOptions options;
        SessionSettings session;
        try
        {
            options = addInputs(arguments, arguments.ToGenerationOptions());
            options.Validate();
            session = new SessionSettings { Provider = ExecutionProvider.Parse(arguments.Provider), IntraOpThreads = arguments.Threads };
            session.Validate();
        }
        catch (InvalidOptionException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 2;
        }
        catch (DiffusionException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 1;
        }

        try
        {
            var loadWatch = Stopwatch.StartNew();
            var settings = new PipelineSettings
            {
                Session = session,
                UNetModelPath = arguments.UNet,
                ConfigDirectory = arguments.ConfigDirectory,
                VaePath = arguments.Vae,
                PredictionType = arguments.PredictionType,
                Loras = arguments.Loras,
                LoraDirectory = arguments.LoraDirectory,
            };
            // SD3/FLUX.1 folders (or single files whose --config folder is one) load in the flow-matching pipeline; it refuses
            // the UNet-only options by name if given.
            string familyFolder = File.Exists(arguments.Model) ? arguments.ConfigDirectory ?? "" : arguments.Model;
            using IDiffusionPipeline pipeline = ModelFamilyResolver.FromModelFolder(familyFolder) is { IsFlowMatchingTransformer: true }
                ? FlowMatchingPipeline.Load(arguments.Model, settings)
                : StableDiffusionPipeline.Load(arguments.Model, settings);
            Console.WriteLine($"Loaded {arguments.Model} in {loadWatch.Elapsed.TotalSeconds:F2} s");

            IScheduler? scheduler = arguments.Scheduler is null ? null : SchedulerCatalog.Create(arguments.Scheduler, pipeline.Scheduler.Config);
            options = options with { Scheduler = scheduler };
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
                SkiaImageCodec.Save(result.Images[i], path);
                Console.WriteLine($"Wrote {path} ({result.Images[i].Width}x{result.Images[i].Height})");
            }
            Console.WriteLine($"Total time {result.Timings.Total.TotalSeconds:F2} s");
            return 0;
        }
        catch (DiffusionException ex)
        {
            string hint = ex is InvalidOptionException { OptionName: { } name } && GenerationCommandLine.CommandLineName(name) is { } option
                ? $" (command line: {option})"
                : "";
            Console.Error.WriteLine($"error: {ex.Message}{hint}");
            return 1;
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 1;
        }
    }

    private static string NumberedPath(string path, int index) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}-{index}{Path.GetExtension(path)}");
}
