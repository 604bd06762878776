using System.Diagnostics;
using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Imaging.Skia;
using Diffusion.Samples.TextToImage;

// Text-to-image from the command line: loads a diffusers ONNX model folder and writes PNG files.
SampleArguments arguments;
try
{
    arguments = SampleArguments.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(SampleArguments.Usage);
    return 2;
}
if (arguments.ShowHelp)
{
    Console.WriteLine(SampleArguments.Usage);
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
    using var pipeline = StableDiffusionPipeline.Load(arguments.Model, new PipelineSettings { Session = session });
    Console.WriteLine($"Loaded {arguments.Model} in {loadWatch.Elapsed.TotalSeconds:F2} s");

    IScheduler? scheduler = arguments.Scheduler is null
        ? null
        : SchedulerCatalog.Create(arguments.Scheduler, pipeline.Scheduler.Config);
    var options = new GenerationOptions
    {
        Prompt = arguments.Prompt,
        NegativePrompt = arguments.NegativePrompt,
        Steps = arguments.Steps,
        GuidanceScale = arguments.Guidance,
        Seed = arguments.Seed,
        Width = arguments.Width,
        Height = arguments.Height,
        ImagesPerPrompt = arguments.Count,
        RandomSource = arguments.Random,
        Scheduler = scheduler,
    };
    Console.WriteLine($"Scheduler: {(scheduler ?? pipeline.Scheduler).GetType().Name}, random source: {options.RandomSource}");

    var progress = new ConsoleProgress();
    GenerationResult result = pipeline.Generate(options, progress);
    Console.WriteLine();
    Console.WriteLine($"Seed {result.Seed}; {result.Timings}");
    if (result.PromptTruncated)
        Console.WriteLine("Warning: the prompt was longer than 77 tokens and was truncated.");

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

static string NumberedPath(string path, int index) =>
    Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}-{index}{Path.GetExtension(path)}");
