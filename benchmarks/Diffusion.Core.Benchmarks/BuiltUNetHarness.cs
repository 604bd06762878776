using System.Diagnostics;
using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Models;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// The real-size SD 1.5 UNet built in C# from a single-file checkpoint against torch's export of the same weights
/// (../shared/tools/realsize/: make_random_sd15.py, export_unet_onnx.py):
/// <c>load</c> (one model per process: build time, session creation, peak RSS, operator counts after ORT's ALL-level
/// optimisation), <c>steps</c> (both sessions, interleaved batch-2 64×64 runs, median of each).
/// </summary>
/// <remarks>
/// Usage: <c>built-unet load --checkpoint F.safetensors | --export unet/model.onnx [--optimized DIR] [--threads 2]</c>,
/// <c>built-unet steps --checkpoint F --export M [--runs 5] [--threads 2]</c>,
/// <c>built-unet attention --checkpoint F [--unfused] [--runs 3] [--quantization int8|int4] [--quantize-convolutions] [--quantize-activations]</c> (one process per variant: session creation, each of
/// the first two batch-2 runs, the steady runs' median, peak RSS; fused vs unfused attention),
/// <c>built-unet operators --checkpoint F [--prepack on|off] [--runs 3]</c> (ONNX Runtime's profiler on: kernel time per
/// operator kind over the steady runs, to see which kinds pre-packing speeds up).
/// </remarks>
public static class BuiltUNetHarness
{
    public static int Run(ReadOnlySpan<string> args)
    {
        string mode = args.Length > 0 ? args[0] : "";
        string? checkpoint = null, export = null, optimized = null;
        int threads = 2, runs = 5;
        bool fused = true;
        GraphOptimizationLevel? level = null;
        bool? prepack = null;
        var quantization = WeightQuantization.None;
        bool convolutions = false, activations = false;
        var entries = new Dictionary<string, string>();
        for (int i = 1; i < args.Length; i += 2)
        {
            if (args[i] is "--unfused" or "--quantize-convolutions" or "--quantize-activations")
            {
                fused &= args[i] != "--unfused";
                convolutions |= args[i] == "--quantize-convolutions";
                activations |= args[i] == "--quantize-activations";
                i--;
                continue;
            }
            switch (args[i])
            {
                case "--checkpoint": checkpoint = args[i + 1]; break;
                case "--export": export = args[i + 1]; break;
                case "--optimized": optimized = args[i + 1]; break;
                case "--threads": threads = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--runs":
                    runs = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
                    if (runs < 1)
                        throw new ArgumentException($"--runs must be 1 or more (the timed runs after two warm-up runs), got {runs}");
                    break;
                case "--level": level = ParseLevel(args[i + 1]); break;
                case "--prepack": prepack = args[i + 1] == "on"; break;
                case "--quantization": quantization = Enum.Parse<WeightQuantization>(args[i + 1], ignoreCase: true); break;
                case "--config-entry": entries[args[i + 1].Split('=')[0]] = args[i + 1].Split('=', 2)[1]; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        Console.WriteLine(MachineDescription.Describe());
        var settings = new SessionSettings { IntraOpThreads = threads, GraphOptimizationLevel = level, PrepackWeights = prepack, Quantization = quantization, QuantizeConvolutions = convolutions, QuantizeActivations = activations, SessionConfigEntries = entries.Count > 0 ? entries : null };
        Console.WriteLine($"level {(level is null ? "automatic" : level)}, prepack {(prepack is null ? "automatic" : prepack.Value ? "on" : "off")}, quantization {quantization}{(convolutions ? ", convolutions int8" : "")}{(activations ? ", int8 activations" : "")}{string.Concat(entries.Select(e => $", {e.Key}={e.Value}"))}");
        switch (mode)
        {
            case "load" when checkpoint is not null ^ export is not null:
                Load(checkpoint, export, optimized, settings);
                return 0;
            case "attention" when checkpoint is not null:
                Attention(checkpoint, fused, runs, settings);
                return 0;
            case "operators" when checkpoint is not null:
                Operators(checkpoint, runs, settings);
                return 0;
            case "steps" when checkpoint is not null && export is not null:
                Steps(checkpoint, export, runs, settings);
                return 0;
            default:
                throw new ArgumentException("built-unet load --checkpoint F | --export M [--optimized DIR], or built-unet steps --checkpoint F --export M [--runs N]");
        }
    }

    private static GraphOptimizationLevel ParseLevel(string text) => text switch
    {
        "all" => GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disable" => GraphOptimizationLevel.ORT_DISABLE_ALL,
        _ => throw new ArgumentException($"--level {text}: all, extended, basic or disable"),
    };

    private static ModelSource Built(string checkpoint, out double buildMilliseconds, bool fusedAttention = true)
    {
        long start = Stopwatch.GetTimestamp();
        using SingleFileCheckpoint file = SingleFileCheckpoint.Open(checkpoint);
        BuiltModel built = file.BuildUNet(UNetConfig.StableDiffusion15(file.UNetInChannels), fusedAttention);
        buildMilliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        Console.WriteLine($"built {built.Name}: {built.ParameterCount:N0} parameters, graph {built.Graph.Length / 1024.0:F0} KiB, in {buildMilliseconds:F0} ms");
        return built.ToSource();
    }

    private static void Load(string? checkpoint, string? export, string? optimizedFolder, SessionSettings settings)
    {
        ModelSource source = checkpoint is not null ? Built(checkpoint, out _) : ModelSource.FromFile(export!);
        string? optimized = null;
        if (optimizedFolder is not null)
        {
            Directory.CreateDirectory(optimizedFolder);
            optimized = Path.Combine(optimizedFolder, checkpoint is not null ? "built.onnx" : "export.onnx");
            // A >2 GB optimised model keeps its initializers outside the protobuf.
            settings = settings with
            {
                SessionConfigEntries = new Dictionary<string, string>
                {
                    ["session.optimized_model_external_initializers_file_name"] = Path.GetFileName(optimized) + ".data",
                    ["session.optimized_model_external_initializers_min_size_in_bytes"] = "1024",
                },
            };
        }
        long start = Stopwatch.GetTimestamp();
        using (InferenceSession session = SessionFactory.Create(source, settings, options =>
        {
            if (optimized is not null)
                options.OptimizedModelFilePath = optimized;
        }))
        {
            Console.WriteLine($"session created in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s; RSS {ProcessMemory.ResidentMiB():F0} MiB, peak {ProcessMemory.PeakResidentMiB():F0} MiB");
        }
        if (optimized is not null)
        {
            var counts = OnnxWeightReader.Read(optimized).Nodes.GroupBy(n => n.OpType).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal);
            Console.WriteLine($"operators after optimisation ({optimized}): " + string.Join(", ", counts.Select(g => $"{g.Key} {g.Count()}")));
        }
    }

    private static void Steps(string checkpoint, string export, int runs, SessionSettings settings)
    {
        ModelSource built = Built(checkpoint, out _);
        using InferenceSession a = SessionFactory.Create(built, settings);
        using InferenceSession b = SessionFactory.Create(export, settings);
        var random = new Random(1);
        float[] sample = Enumerable.Range(0, 2 * 4 * 64 * 64).Select(_ => (float)random.NextDouble()).ToArray();
        float[] context = Enumerable.Range(0, 2 * 77 * 768).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        double Step(InferenceSession session, string timestepName, long[] timestepShape)
        {
            using var x = OrtValue.CreateTensorValueFromMemory(sample, [2, 4, 64, 64]);
            using var t = OrtValue.CreateTensorValueFromMemory(timestepShape.Length == 1 && timestepShape[0] == 2 ? [500f, 500f] : new[] { 500f }, timestepShape);
            using var c = OrtValue.CreateTensorValueFromMemory(context, [2, 77, 768]);
            long start = Stopwatch.GetTimestamp();
            using var output = session.Run(new RunOptions(), ["sample", timestepName, "encoder_hidden_states"], [x, t, c], [session.OutputNames[0]]);
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        string exportTimestep = b.InputNames.Single(n => n.Contains("timestep", StringComparison.Ordinal));
        // Two warm-up calls each (the first batch-2 runs are slow under every option, docs/performance.md).
        for (int i = 0; i < 2; i++)
        {
            Step(a, "timestep", [1]);
            Step(b, exportTimestep, [2]);
        }
        var builtTimes = new List<double>();
        var exportTimes = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            builtTimes.Add(Step(a, "timestep", [1]));
            exportTimes.Add(Step(b, exportTimestep, [2]));
            Console.WriteLine($"run {i + 1}: built {builtTimes[^1]:F2} s, export {exportTimes[^1]:F2} s");
        }
        double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        Console.WriteLine($"median batch-2 step: built {Median(builtTimes):F2} s, export {Median(exportTimes):F2} s, ratio {Median(builtTimes) / Median(exportTimes):F3}; peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB");
    }

    private static void Attention(string checkpoint, bool fused, int runs, SessionSettings settings)
    {
        ModelSource built = Built(checkpoint, out _, fused);
        long start = Stopwatch.GetTimestamp();
        using InferenceSession session = SessionFactory.Create(built, settings);
        Console.WriteLine($"{(fused ? "fused" : "unfused")} attention: session created in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s, peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB");
        List<double> times = RunBatches(session, runs + 2, (i, seconds) => Console.WriteLine($"run {i + 1}: {seconds:F2} s, peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB"));
        double steady = times.Skip(2).Order().ElementAt((times.Count - 2) / 2);
        Console.WriteLine($"{(fused ? "fused" : "unfused")}: first {times[0]:F2} s, second {times[1]:F2} s, steady median {steady:F2} s, first/steady {times[0] / steady:F2}; peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB");
    }

    /// <summary>Kernel time per operator kind (ONNX Runtime's profiler), summed over the runs after two warm-up runs.</summary>
    private static void Operators(string checkpoint, int runs, SessionSettings settings)
    {
        ModelSource built = Built(checkpoint, out _);
        string prefix = Path.Combine(Path.GetTempPath(), $"unet-operators-{Environment.ProcessId}");
        long start = Stopwatch.GetTimestamp();
        using InferenceSession session = SessionFactory.Create(built, settings, options =>
        {
            options.EnableProfiling = true;
            options.ProfileOutputPathPrefix = prefix;
        });
        Console.WriteLine($"session created in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s, peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB");
        RunBatches(session, runs + 2, (i, seconds) => Console.WriteLine($"run {i + 1}: {seconds:F2} s"));
        string profile = session.EndProfiling();
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(profile));
        // Each run is one "model_run" event; node events carry the run's timestamp range, so the steady runs are those
        // after the second model_run's end.
        var runEnds = document.RootElement.EnumerateArray().Where(e => e.GetProperty("name").GetString() == "model_run")
            .Select(e => e.GetProperty("ts").GetInt64() + e.GetProperty("dur").GetInt64()).Order().ToList();
        long steadyFrom = runEnds[1];
        var perKind = new Dictionary<string, (double Microseconds, int Nodes)>();
        foreach (var e in document.RootElement.EnumerateArray())
        {
            if (e.GetProperty("cat").GetString() != "Node" || !e.GetProperty("name").GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal)
                || e.GetProperty("ts").GetInt64() < steadyFrom)
                continue;
            string kind = e.GetProperty("args").GetProperty("op_name").GetString()!;
            perKind.TryGetValue(kind, out var sum);
            perKind[kind] = (sum.Microseconds + e.GetProperty("dur").GetInt64(), sum.Nodes + 1);
        }
        File.Delete(profile);
        double total = perKind.Values.Sum(v => v.Microseconds);
        Console.WriteLine($"kernel time per steady run, by operator kind ({runs} runs):");
        foreach ((string kind, (double us, int nodes)) in perKind.OrderByDescending(p => p.Value.Microseconds))
            Console.WriteLine($"  {kind,-28} {us / runs / 1e6,8:F3} s  {100 * us / total,5:F1} %  ({nodes / runs} nodes)");
        Console.WriteLine($"  {"total",-28} {total / runs / 1e6,8:F3} s; peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB");
    }

    /// <summary><paramref name="count"/> batch-2 runs at 64×64 latents (512²) on fixed random inputs, each timed.</summary>
    private static List<double> RunBatches(InferenceSession session, int count, Action<int, double> report)
    {
        var random = new Random(1);
        float[] sample = Enumerable.Range(0, 2 * 4 * 64 * 64).Select(_ => (float)random.NextDouble()).ToArray();
        float[] context = Enumerable.Range(0, 2 * 77 * 768).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var times = new List<double>();
        for (int i = 0; i < count; i++)
        {
            using var x = OrtValue.CreateTensorValueFromMemory(sample, [2, 4, 64, 64]);
            using var t = OrtValue.CreateTensorValueFromMemory(new[] { 500f }, [1]);
            using var c = OrtValue.CreateTensorValueFromMemory(context, [2, 77, 768]);
            long runStart = Stopwatch.GetTimestamp();
            using var output = session.Run(new RunOptions(), ["sample", "timestep", "encoder_hidden_states"], [x, t, c], [session.OutputNames[0]]);
            times.Add(Stopwatch.GetElapsedTime(runStart).TotalSeconds);
            report(i, times[^1]);
        }
        return times;
    }
}
