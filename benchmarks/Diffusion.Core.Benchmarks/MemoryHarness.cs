using System.Diagnostics;
using System.Globalization;
using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// The <c>memory</c> verb: peak resident memory (VmHWM) of one generation and of each model alone, each
/// measured in a fresh child process so one measurement's heap and ORT arenas don't inflate the next.
/// Every child first starts ONNX Runtime, records VmHWM (the baseline: .NET + ORT), then loads and runs its
/// component once and records VmHWM again; the table shows both and the difference.
/// </summary>
/// <remarks>
/// Components: <c>baseline</c> (nothing loaded), <c>text_encoder</c> (one batch-1 run), <c>unet</c> (one
/// batch-2 run at --size), <c>vae_decoder</c> (one decode at --size), <c>vae_decoder_tiled</c> (the same
/// through <see cref="TiledVaeDecoder"/> with --tile/--overlap), <c>pipeline</c> (load + one generation,
/// Euler, --steps, CFG, in --memory-mode). "sequential ≤ largest model + 20 %" is judged by comparing the
/// pipeline's peak in sequential mode with the largest single-model peak.
/// </remarks>
public static class MemoryHarness
{
    private static readonly string[] s_components = ["baseline", "text_encoder", "unet", "vae_decoder", "vae_decoder_tiled", "pipeline"];

    /// <summary>Runs every component in its own child process (or, with --component, one here) and prints the table.</summary>
    public static int Run(HarnessOptions options)
    {
        if (options.Component is { } component)
            return MeasureHere(component, options);

        Console.WriteLine(MachineDescription.Describe());
        Console.WriteLine($"model: {BenchmarkSettings.ModelDirectory}; threads: {BenchmarkSettings.Session.IntraOpThreads}; size {options.Size}; memory mode {options.MemoryMode}; tiles {options.TileSize}/{options.Overlap}; load {MachineDescription.LoadAverage()}");
        Console.WriteLine($"{"component",-18} {"before MiB",11} {"peak MiB",10} {"delta MiB",10} {"seconds",8}");
        int failures = 0;
        foreach (string name in s_components)
        {
            string? line = RunChild(name, options);
            if (line is null)
            {
                failures++;
                Console.WriteLine($"{name,-18} failed");
                continue;
            }
            Console.WriteLine(line);
        }
        Console.WriteLine($"load average at end: {MachineDescription.LoadAverage()}");
        return failures == 0 ? 0 : 1;
    }

    private static string? RunChild(string component, HarnessOptions options)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, UseShellExecute = false };
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        start.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            start.ArgumentList.Add(typeof(MemoryHarness).Assembly.Location);
        start.ArgumentList.Add("memory");
        foreach (string argument in (options with { Component = component }).ToArguments())
            start.ArgumentList.Add(argument);
        start.ArgumentList.Add("--component");
        start.ArgumentList.Add(component);

        using Process child = Process.Start(start) ?? throw new InvalidOperationException("could not start " + self);
        string? result = null;
        string? line;
        while ((line = child.StandardOutput.ReadLine()) is not null)
        {
            if (line.StartsWith("RESULT ", StringComparison.Ordinal))
                result = line["RESULT ".Length..];
            else
                Console.Error.WriteLine($"  [{component}] {line}");
        }
        child.WaitForExit();
        return child.ExitCode == 0 ? result : null;
    }

    private static int MeasureHere(string component, HarnessOptions options)
    {
        // Start ORT (native library, environment, default logger) before the baseline reading.
        _ = OrtEnv.Instance().GetVersionString();
        double before = ProcessMemory.PeakResidentMiB();
        long t0 = Stopwatch.GetTimestamp();
        SessionSettings session = BenchmarkSettings.Session;
        string modelDirectory = BenchmarkSettings.ModelDirectory;
        int latentSize = options.Size / 8;
        switch (component)
        {
            case "baseline":
                break;
            case "text_encoder":
                {
                    using var encoder = TextEncoder.Load(Path.Combine(modelDirectory, "text_encoder", "model.onnx"), session);
                    int[] ids = new int[77];
                    ids[0] = 49406;
                    ids.AsSpan(1).Fill(49407);
                    encoder.Encode(ids, 1, 77, new float[77 * encoder.GetHiddenSize()]);
                    break;
                }
            case "unet":
                {
                    using var unet = UNet.Load(Path.Combine(modelDirectory, "unet", "model.onnx"), session);
                    int width = unet.TextEmbeddingWidth ?? 768;
                    float[] sample = new float[2 * 4 * latentSize * latentSize];
                    new FastRandomSource(1).NextStandardNormal(sample);
                    unet.Predict(sample, 2, latentSize, latentSize, 500f, new float[2 * 77 * width], 77, new float[sample.Length]);
                    break;
                }
            case "vae_decoder":
            case "vae_decoder_tiled":
                {
                    using var decoder = VaeDecoder.Load(Path.Combine(modelDirectory, "vae_decoder", "model.onnx"), session);
                    float[] latents = new float[4 * latentSize * latentSize];
                    new FastRandomSource(2).NextStandardNormal(latents);
                    float[] image = new float[3 * options.Size * options.Size];
                    if (component == "vae_decoder")
                        decoder.Decode(latents, 1, latentSize, latentSize, image);
                    else
                        new TiledVaeDecoder(decoder, options.TileSize, options.Overlap).Decode(latents, 1, latentSize, latentSize, image);
                    break;
                }
            case "pipeline":
                {
                    using var pipeline = StableDiffusionPipeline.Load(modelDirectory, CreatePipelineSettings(options.MemoryMode, session));
                    for (int generation = 0; generation < options.Generations; generation++)
                    {
                        long started = Stopwatch.GetTimestamp();
                        pipeline.Generate(new GenerationOptions
                        {
                            Prompt = "a photo of an astronaut riding a horse on mars",
                            Steps = options.Steps,
                            GuidanceScale = options.GuidanceScale,
                            Width = options.Size,
                            Height = options.Size,
                            Seed = 42 + (ulong)generation,
                            Scheduler = SchedulerCatalog.Create("Euler", pipeline.Scheduler.Config),
                        });
                        // Peak after each generation: the first one's arenas, then whatever repeated calls add.
                        if (options.Generations > 1)
                            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"generation {generation + 1}: {Stopwatch.GetElapsedTime(started).TotalSeconds:F2} s, peak {ProcessMemory.PeakResidentMiB():F1} MiB, current {ProcessMemory.ResidentMiB():F1} MiB"));
                    }
                    break;
                }
            default:
                throw new ArgumentException($"unknown component {component}; expected one of {string.Join(", ", s_components)}");
        }
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        double peak = ProcessMemory.PeakResidentMiB();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT {component,-18} {before,11:F1} {peak,10:F1} {peak - before,10:F1} {seconds,8:F2}"));
        return 0;
    }

    /// <summary>
    /// Keep mode whose sessions share one CPU arena registered with the ORT environment, extended by the size asked
    /// for (kSameAsRequested) rather than in doubling chunks.
    /// </summary>
    private static PipelineSettings SharedArena(SessionSettings session)
    {
        using var arena = new Microsoft.ML.OnnxRuntime.OrtArenaCfg(0, 1, -1, -1);
        Microsoft.ML.OnnxRuntime.OrtEnv.Instance().CreateAndRegisterAllocator(Microsoft.ML.OnnxRuntime.OrtMemoryInfo.DefaultInstance, arena);
        var entries = new Dictionary<string, string>(session.SessionConfigEntries ?? new Dictionary<string, string>()) { ["session.use_env_allocators"] = "1" };
        return new PipelineSettings { Session = session with { SessionConfigEntries = entries }, MemoryMode = MemoryMode.KeepLoaded };
    }

    /// <summary>
    /// Pipeline settings for a memory mode: "keep" (<see cref="MemoryMode.KeepLoaded"/>, every model loaded for the
    /// pipeline's lifetime) or "sequential" (<see cref="MemoryMode.Sequential"/>, each model loaded for its stage only).
    /// </summary>
    private static PipelineSettings CreatePipelineSettings(string memoryMode, SessionSettings session) => memoryMode switch
    {
        "keep" => new PipelineSettings { Session = session, MemoryMode = MemoryMode.KeepLoaded },
        "keep-no-arena" => new PipelineSettings { Session = session with { EnableMemoryArena = false }, MemoryMode = MemoryMode.KeepLoaded },
        "keep-shared-arena" => SharedArena(session),
        "sequential" => new PipelineSettings { Session = session, MemoryMode = MemoryMode.Sequential },
        _ => throw new ArgumentException($"unknown memory mode {memoryMode}"),
    };
}
