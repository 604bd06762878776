using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Imaging.Skia;
using Diffusion.Tools.DemoModelEvaluation;

// Scores the demo model: generates each evaluation caption, reads the image back with the scene analyser, and
// reports per-attribute accuracy per scheduler for seen and held-out combinations.
EvaluationArguments arguments;
try
{
    arguments = EvaluationArguments.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(EvaluationArguments.Usage);
    return 2;
}
if (arguments.ShowHelp)
{
    Console.WriteLine(EvaluationArguments.Usage);
    return 0;
}

try
{
    string promptsFile = arguments.PromptsFile
        ?? (File.Exists(Path.Combine(arguments.Model, "eval_prompts.json"))
            ? Path.Combine(arguments.Model, "eval_prompts.json")
            : Path.Combine(AppContext.BaseDirectory, "eval_prompts.json"));
    IReadOnlyList<EvaluationPrompt> prompts = EvaluationPrompt.LoadAll(promptsFile);
    if (arguments.PromptCount is int count)
        prompts = EvaluationPrompt.Select(prompts, count);
    var settings = new EvaluationSettings { Steps = arguments.Steps, GuidanceScale = arguments.Guidance, StepCache = arguments.StepCache };
    if (arguments.StepCache is { } cache)
        Console.Error.WriteLine($"step caching: the whole UNet every {cache.Interval} steps, cut at point {cache.CachePoint}");
    float scalingFactor = DemoModel.ScalingFactorOf(arguments.Model);
    Console.Error.WriteLine($"{prompts.Count} prompts from {promptsFile}; model {arguments.Model} (scaling factor {scalingFactor})");

    var schedulerRows = new List<ReportRow>();
    var controls = new List<ReportRow>();
    var otherGuidance = new List<ReportRow>();
    var otherSizes = new List<(int, ReportRow)>();
    SessionSettings? session = arguments.Quantization == WeightQuantization.None && !arguments.QuantizeConvolutions && !arguments.QuantizeActivations ? null
        : new SessionSettings { Quantization = arguments.Quantization, QuantizeConvolutions = arguments.QuantizeConvolutions, QuantizeActivations = arguments.QuantizeActivations };
    if (session is not null)
    {
        session.Validate(); // a bad combination is named before any model loads
        Console.Error.WriteLine($"text encoder and UNet quantised at load: linear layers {arguments.Quantization}{(arguments.QuantizeConvolutions ? ", convolutions int8" : "")}{(arguments.QuantizeActivations ? ", int8 compute" : "")}");
    }
    using (StableDiffusionPipeline pipeline = DemoModel.Load(arguments.Model, session: session))
    {
        foreach (string name in arguments.Schedulers)
            schedulerRows.Add(Run(pipeline, prompts, name, SchedulerCatalog.Create(name, pipeline.Scheduler.Config), settings, name));
        foreach (float guidance in arguments.OtherGuidance)
        {
            foreach (string name in arguments.Schedulers)
            {
                otherGuidance.Add(Run(pipeline, prompts, $"{name}, guidance {guidance.ToString(CultureInfo.InvariantCulture)}",
                    SchedulerCatalog.Create(name, pipeline.Scheduler.Config), settings with { GuidanceScale = guidance },
                    $"{name}-guidance-{guidance.ToString(CultureInfo.InvariantCulture)}"));
            }
        }
        if (arguments.Controls)
        {
            controls.Add(Run(pipeline, prompts, "DDIM, UNet given the next step's timestep",
                MislabelledTimestepScheduler.NextStep(SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config)), settings, "control-next-timestep") with { Baseline = "DDIM" });
            controls.Add(Run(pipeline, prompts, "DDIM, update computed for the next step (one ahead)",
                OffByOneStepScheduler.Ahead(SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config)), settings, "control-step-ahead") with { Baseline = "DDIM" });
            controls.Add(Run(pipeline, prompts, "DDIM, update computed for the previous step (one behind)",
                OffByOneStepScheduler.Behind(SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config)), settings, "control-step-behind") with { Baseline = "DDIM" });
            controls.Add(Run(pipeline, prompts, "DDIM, UNet given the step index instead of the timestep",
                MislabelledTimestepScheduler.StepIndex(SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config)), settings, "control-index-timestep") with { Baseline = "DDIM" });
            controls.Add(Run(pipeline, prompts, "Euler without scale_model_input",
                new UnscaledModelInputScheduler(SchedulerCatalog.Create("Euler", pipeline.Scheduler.Config)), settings, "control-euler-unscaled-input") with { Baseline = "Euler" });
        }
        if (arguments.OtherSize > 0)
        {
            string first = arguments.Schedulers[0];
            otherSizes.Add((arguments.OtherSize, Run(pipeline, prompts, first, SchedulerCatalog.Create(first, pipeline.Scheduler.Config),
                settings with { ImageSize = arguments.OtherSize }, $"{first}-{arguments.OtherSize}") with { Baseline = first }));
        }
    }
    if (arguments.Controls)
    {
        // Decoding bugs: the latents divided by 1 (not divided at all) and by SD 1.x's 0.18215 (a hard-coded constant)
        // instead of the factor the model folder declares.
        int at = 0;
        foreach ((float wrongFactor, string what) in new[] { (1f, "1 (not divided)"), (0.18215f, "SD's 0.18215") })
        {
            using StableDiffusionPipeline wrong = DemoModel.Load(arguments.Model, vaeScalingFactor: wrongFactor);
            controls.Insert(at++, Run(wrong, prompts, $"DDIM, latents divided by {what} instead of {scalingFactor}",
                SchedulerCatalog.Create("DDIM", wrong.Scheduler.Config), settings, $"control-scaling-{wrongFactor}") with { Baseline = "DDIM" });
        }
    }

    var report = new EvaluationReport
    {
        CommandLine = "dotnet run -c Release --project tools/DemoModelEvaluation -- " + string.Join(' ', args.Select(Quote)),
        ModelPath = arguments.Model,
        ScalingFactor = scalingFactor,
        Settings = settings,
        Schedulers = schedulerRows,
        Controls = controls,
        OtherGuidance = otherGuidance,
        OtherSizes = otherSizes,
    };
    string markdown = report.ToMarkdown();
    Console.WriteLine(markdown);
    if (arguments.ReportPath is { } reportPath)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(reportPath));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        File.WriteAllText(reportPath, markdown);
        Console.Error.WriteLine($"Wrote {reportPath}");
    }
    return 0;
}
catch (Exception ex) when (ex is DiffusionException or InvalidDataException or IOException)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}

ReportRow Run(StableDiffusionPipeline pipeline, IReadOnlyList<EvaluationPrompt> prompts, string label, IScheduler scheduler, EvaluationSettings settings, string sampleFolderName)
{
    Console.Error.Write($"{label}: ");
    int done = 0;
    string? folder = arguments.SamplesDirectory is null ? null : Path.Combine(arguments.SamplesDirectory, Sanitize(sampleFolderName));
    if (folder is not null)
        Directory.CreateDirectory(folder);
    (EvaluationScores scores, TimeSpan perImage) = DemoModelEvaluator.Score(pipeline, prompts, scheduler, settings, sample =>
    {
        if (folder is not null)
            SkiaImageCodec.Save(sample.Image, Path.Combine(folder, $"{sample.Prompt.Seed:D3}.png"));
        if (++done % 10 == 0)
            Console.Error.Write('.');
    });
    Console.Error.WriteLine($" {scores.AllCorrect():P1} all five right, {perImage.TotalMilliseconds:F0} ms/image");
    return new ReportRow(label, scores, perImage);
}

static string Quote(string arg) => arg.Contains(' ', StringComparison.Ordinal) ? $"\"{arg}\"" : arg;

static string Sanitize(string name)
{
    var chars = name.ToCharArray();
    for (int i = 0; i < chars.Length; i++)
    {
        if (!char.IsLetterOrDigit(chars[i]) && chars[i] != '-')
            chars[i] = '_';
    }
    return new string(chars);
}
