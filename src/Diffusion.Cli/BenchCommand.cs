using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Diffusion.CommandLine;
using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Families;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Hub;
using Spectre.Console;

namespace Diffusion.Cli;

/// <summary>
/// <c>diffusion bench</c>: schedulers × providers × steps × sizes on one model, each combination warmed up then timed over
/// several runs (median, min, mean of the whole generation; denoiser and scheduler time per step; text encoder and VAE),
/// printed as a table and written as CSV and/or JSON — the comparison users run to pick a scheduler and a provider.
/// </summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model folder, single file or download source (default: the built-in demo model)", DefaultValueFactory = _ => DemoModel.Path };
        var config = new Option<string?>("--config") { Description = "for a single-file checkpoint: its config folder" };
        var schedulers = new Option<string>("--schedulers") { Description = "comma-separated scheduler names (default: the model's own)", DefaultValueFactory = _ => "" };
        var providers = new Option<string>("--providers") { Description = "comma-separated execution providers: cpu, cuda[:id], directml[:adapter], ...", DefaultValueFactory = _ => "cpu" };
        var steps = new Option<string>("--steps") { Description = "comma-separated step counts (1 to 1000)", DefaultValueFactory = _ => "20" };
        var sizes = new Option<string>("--sizes") { Description = "comma-separated WIDTHxHEIGHT sizes, multiples of 8 (default: the model's)", DefaultValueFactory = _ => "" };
        var runs = new Option<int>("--runs") { Description = "timed runs per combination (1 to 100)", DefaultValueFactory = _ => 3, CustomParser = BoundedParsers.Int("--runs", 1, 100) };
        var warmup = new Option<int>("--warmup") { Description = "untimed runs first (0 to 10)", DefaultValueFactory = _ => 1, CustomParser = BoundedParsers.Int("--warmup", 0, 10) };
        var threads = new Option<int?>("--threads") { Description = $"intra-op threads (1 to {SessionSettings.MaxThreads})", CustomParser = BoundedParsers.OptionalInt("--threads", 1, SessionSettings.MaxThreads) };
        var csv = new Option<string?>("--csv") { Description = "write the results as CSV to this file" };
        var json = new Option<string?>("--json") { Description = "write the results as JSON to this file" };
        var command = new Command("bench", "Time schedulers × providers × steps × sizes on a model.")
        {
            model, config, schedulers, providers, steps, sizes, runs, warmup, threads, csv, json,
        };
        command.SetAction((parsed, ct) =>
        {
            try
            {
                var plan = new BenchPlan(
                    Split(parsed.GetValue(schedulers)!), Split(parsed.GetValue(providers)!).Select(ExecutionProvider.Parse).ToList(),
                    Split(parsed.GetValue(steps)!).Select(s => ParseInt("--steps", s, 1, 1000)).ToList(),
                    Split(parsed.GetValue(sizes)!).Select(ParseSize).ToList(),
                    parsed.GetValue(runs), parsed.GetValue(warmup), parsed.GetValue(threads));
                if (plan.Providers.Count == 0 || plan.Steps.Count == 0)
                    throw new ArgumentException("--providers and --steps need at least one value each.");
                return Task.FromResult(Run(parsed.GetValue(model)!, parsed.GetValue(config), plan, parsed.GetValue(csv), parsed.GetValue(json), ct));
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOptionException)
            {
                Console.Error.WriteLine($"error: {ex.Message}");
                return Task.FromResult(CommandLineRunner.BadCommandLine);
            }
        });
        return command;
    }

    private sealed record BenchPlan(IReadOnlyList<string> Schedulers, IReadOnlyList<ExecutionProvider> Providers, IReadOnlyList<int> Steps,
        IReadOnlyList<(int Width, int Height)> Sizes, int Runs, int Warmup, int? Threads);

    private static int Run(string modelText, string? config, BenchPlan plan, string? csvPath, string? jsonPath, CancellationToken ct)
    {
        CheckWritable("--csv", csvPath);
        CheckWritable("--json", jsonPath);
        var results = new List<BenchCase>();
        try
        {
            string model = ModelLocator.Resolve(modelText, ct);
            foreach (ExecutionProvider provider in plan.Providers)
            {
                var watch = Stopwatch.StartNew();
                var settings = new PipelineSettings { Session = new SessionSettings { Provider = provider, IntraOpThreads = plan.Threads }, ConfigDirectory = config };
                string familyFolder = File.Exists(model) ? config ?? "" : model;
                using IDiffusionPipeline pipeline = ModelFamilyResolver.FromModelFolder(familyFolder) is { IsFlowMatchingTransformer: true }
                    ? FlowMatchingPipeline.Load(model, settings)
                    : StableDiffusionPipeline.Load(model, settings);
                double loadSeconds = watch.Elapsed.TotalSeconds;
                ConsoleOutput.Line($"{provider}: loaded {pipeline.Family.Name} in {loadSeconds:F2} s");
                IReadOnlyList<string?> schedulers = plan.Schedulers.Count == 0 ? [null] : [.. plan.Schedulers];
                IReadOnlyList<(int, int)?> sizes = plan.Sizes.Count == 0 ? [null] : [.. plan.Sizes.Select(s => ((int, int)?)s)];
                foreach (string? schedulerName in schedulers)
                    foreach (int steps in plan.Steps)
                        foreach ((int, int)? size in sizes)
                        {
                            BenchCase result = Measure(pipeline, provider, schedulerName, steps, size, plan, loadSeconds, ct);
                            results.Add(result);
                            ConsoleOutput.Line($"  {result.Scheduler}, {steps} steps, {result.Width}x{result.Height}: median {result.MedianTotalMs:F1} ms, {result.StepsPerSecond:F2} it/s");
                        }
            }
        }
        catch (OperationCanceledException)
        {
            return ConsoleOutput.Error("cancelled.");
        }
        catch (Exception ex) when (ex is DiffusionException or ModelDownloadException or IOException or ArgumentException)
        {
            return ConsoleOutput.Error(ex.Message);
        }
        PrintTable(results);
        if (csvPath is not null)
            File.WriteAllText(csvPath, Csv(results));
        if (jsonPath is not null)
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(results, s_indented));
        return 0;
    }

    private static BenchCase Measure(IDiffusionPipeline pipeline, ExecutionProvider provider, string? schedulerName, int steps, (int Width, int Height)? size,
        BenchPlan plan, double loadSeconds, CancellationToken ct)
    {
        IScheduler? scheduler = schedulerName is null ? null : SchedulerCatalog.Create(schedulerName, pipeline.Scheduler.Config);
        var options = new GenerationOptions
        {
            Prompt = "a lighthouse on a cliff at dusk, oil painting",
            Steps = steps,
            Seed = 1,
            Scheduler = scheduler,
            Width = size?.Width,
            Height = size?.Height,
        };
        for (int i = 0; i < plan.Warmup; i++)
            pipeline.Generate(options, progress: null, ct);
        var timings = new List<GenerationTimings>();
        GenerationResult? last = null;
        for (int i = 0; i < plan.Runs; i++)
        {
            last = pipeline.Generate(options, progress: null, ct);
            timings.Add(last.Timings);
        }
        double[] totals = [.. timings.Select(t => t.Total.TotalMilliseconds).Order()];
        int done = last!.DenoisingSteps;
        double denoiser = timings.Average(t => t.UNet.TotalMilliseconds) / done;
        return new BenchCase(provider.ToString(), schedulerName ?? (pipeline.Scheduler.Config.ClassName ?? pipeline.Scheduler.GetType().Name), steps,
            last.Images[0].Width, last.Images[0].Height, plan.Runs,
            totals[totals.Length / 2], totals[0], totals.Average(), denoiser, timings.Average(t => t.Scheduler.TotalMilliseconds) / done,
            timings.Average(t => t.TextEncoder.TotalMilliseconds), timings.Average(t => t.VaeDecoder.TotalMilliseconds),
            done / (timings.Average(t => t.UNet.TotalMilliseconds + t.Scheduler.TotalMilliseconds) / 1000), loadSeconds);
    }

    private static void PrintTable(IReadOnlyList<BenchCase> results)
    {
        if (!ConsoleOutput.Interactive || results.Count == 0)
            return;
        var table = new Table().AddColumns("provider", "scheduler", "steps", "size", "median ms", "min ms", "denoiser ms/step", "scheduler ms/step", "it/s");
        foreach (BenchCase r in results)
            table.AddRow(Markup.Escape(r.Provider), Markup.Escape(r.Scheduler), $"{r.Steps}", $"{r.Width}x{r.Height}", $"{r.MedianTotalMs:F1}", $"{r.MinTotalMs:F1}",
                $"{r.DenoiserMsPerStep:F2}", $"{r.SchedulerMsPerStep:F3}", $"{r.StepsPerSecond:F2}");
        AnsiConsole.Write(table);
    }

    internal static string Csv(IReadOnlyList<BenchCase> results)
    {
        var text = new StringBuilder("provider,scheduler,steps,width,height,runs,median_total_ms,min_total_ms,mean_total_ms,denoiser_ms_per_step,scheduler_ms_per_step,text_encoder_ms,vae_decoder_ms,steps_per_second,load_seconds\n");
        foreach (BenchCase r in results)
        {
            text.AppendJoin(',', Field(r.Provider), Field(r.Scheduler), Number(r.Steps), Number(r.Width), Number(r.Height), Number(r.Runs),
                Number(r.MedianTotalMs), Number(r.MinTotalMs), Number(r.MeanTotalMs), Number(r.DenoiserMsPerStep), Number(r.SchedulerMsPerStep),
                Number(r.TextEncoderMs), Number(r.VaeDecoderMs), Number(r.StepsPerSecond), Number(r.LoadSeconds));
            text.Append('\n');
        }
        return text.ToString();

        static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
        static string Field(string value) => value.Contains(',', StringComparison.Ordinal) || value.Contains('"', StringComparison.Ordinal)
            ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    /// <summary>Refuses, before anything is measured, a result file that could not be written.</summary>
    private static void CheckWritable(string option, string? path)
    {
        if (path is null)
            return;
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new ArgumentException($"{option} {path}: is a folder; give a file name.");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            using (File.Create(full + ".write-check", 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{option} {path}: cannot be written ({error.Message}).");
        }
    }

    private static List<string> Split(string text) => [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static int ParseInt(string option, string text, int min, int max) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
            ? value : throw new ArgumentException($"{option} '{text}' is not a whole number from {min} to {max}.");

    private static (int, int) ParseSize(string text)
    {
        string[] parts = text.Split('x');
        if (parts.Length != 2)
            throw new ArgumentException($"--sizes '{text}' is not WIDTHxHEIGHT.");
        int width = ParseInt("--sizes", parts[0], 8, 8192), height = ParseInt("--sizes", parts[1], 8, 8192);
        if (width % 8 != 0 || height % 8 != 0)
            throw new ArgumentException($"--sizes '{text}': width and height must be multiples of 8.");
        return (width, height);
    }
}
