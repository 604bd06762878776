using System.Diagnostics;
using System.Globalization;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// The <c>realsize</c> verb: a whole pipeline from a real-size model (the random-weight single file of
/// ../shared/tools/realsize/make_random_sd15.py, or any folder) in this process, with the session options under test:
/// load time and resident memory after it, then generations at --size with every step timed (the first step, the
/// steady median), each component's run time, and the peak resident memory of load and of the whole run.
/// Run one configuration per process: peaks (VmHWM) only grow.
/// </summary>
/// <remarks>
/// Usage: <c>realsize --checkpoint F.safetensors [--config DIR] [--level all|extended|basic] [--unet-level all|extended] [--prepack on|off]
/// [--cache DIR] [--threads 2] [--size 512] [--steps 4] [--runs 2] [--memory-mode keep|sequential|auto] [--memory-budget-gib G] [--lora F.safetensors[:multiplier]]… [--quantization int8|int4] [--quantize-convolutions] [--quantize-activations] [--float-vae]</c>
/// (<c>--lora</c> repeats; the LoRAs are merged at load, as <see cref="PipelineSettings.Loras"/>).
/// </remarks>
public static class RealSizeHarness
{
    public static int Run(ReadOnlySpan<string> args)
    {
        string? model = null, config = null, cache = null;
        GraphOptimizationLevel? level = null, unetLevel = null;
        bool? prepack = null;
        int threads = BenchmarkSettings.ThreadsOr(2), size = 512, steps = 4, runs = 2; // --threads is taken by BenchmarkSettings first
        var memory = MemoryMode.KeepLoaded;
        long? budget = null;
        var loras = new List<LoraFile>();
        var quantization = WeightQuantization.None;
        bool convolutions = false, activations = false, floatVae = false;
        DeepCache? stepCache = null;
        for (int i = 0; i < args.Length; i += 2)
        {
            if (args[i] is "--quantize-convolutions" or "--quantize-activations" or "--float-vae")
            {
                convolutions |= args[i] == "--quantize-convolutions";
                activations |= args[i] == "--quantize-activations";
                floatVae |= args[i] == "--float-vae";
                i--;
                continue;
            }
            string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--checkpoint": model = value; break;
                case "--config": config = value; break;
                case "--cache": cache = value; break;
                case "--level": level = value switch { "all" => GraphOptimizationLevel.ORT_ENABLE_ALL, "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC, _ => throw new ArgumentException($"--level {value}") }; break;
                case "--unet-level": unetLevel = value == "all" ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_ENABLE_EXTENDED; break;
                case "--prepack": prepack = value == "on"; break;
                case "--threads": threads = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--size": size = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--lora": loras.Add(ParseLora(value)); break;
                case "--quantization": quantization = Enum.Parse<WeightQuantization>(value, ignoreCase: true); break;
                case "--memory-mode": memory = value switch { "sequential" => MemoryMode.Sequential, "auto" => MemoryMode.Auto, "keep" => MemoryMode.KeepLoaded, _ => throw new ArgumentException($"--memory-mode {value}") }; break;
                case "--memory-budget-gib": budget = (long)(double.Parse(value, CultureInfo.InvariantCulture) * (1L << 30)); break;
                case "--deep-cache": stepCache = DeepCache.Parse(value); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (model is null)
            throw new ArgumentException("realsize --checkpoint F.safetensors|DIR [--config DIR] [--level …] [--prepack on|off] …");
        Console.WriteLine(MachineDescription.Describe());
        var session = new SessionSettings { Provider = BenchmarkSettings.Session.Provider, IntraOpThreads = threads, GraphOptimizationLevel = level, PrepackWeights = prepack, OptimizedModelCache = cache, Quantization = quantization, QuantizeConvolutions = convolutions, QuantizeActivations = activations };
        Console.WriteLine($"model {model}; provider {session.Provider.Kind}; level {(level is null ? "automatic" : level)}; prepack {(prepack is null ? "automatic" : prepack.Value ? "on" : "off")}; threads {threads}; {size}²; {steps} steps; {memory}; cache {cache ?? "off"}; LoRAs {(loras.Count == 0 ? "none" : string.Join(", ", loras))}; quantization {quantization}{(convolutions ? " + convolutions int8" : "")}{(activations ? " + int8 activations" : "")}{(floatVae ? " (VAE float32)" : "")}; step cache {stepCache?.ToText() ?? "off"}; load {MachineDescription.LoadAverage()}");

        double baseline = ProcessMemory.PeakResidentMiB();
        long start = Stopwatch.GetTimestamp();
        using var pipeline = StableDiffusionPipeline.Load(model, new PipelineSettings
        {
            Session = session, VaeDecoderSession = floatVae ? session with { Quantization = WeightQuantization.None, QuantizeConvolutions = false, QuantizeActivations = false } : null,
            ConfigDirectory = config, MemoryMode = memory, MemoryBudget = budget, Loras = loras,
            UNetSession = unetLevel is { } u ? session with { GraphOptimizationLevel = u } : null,
        });
        double load = Stopwatch.GetElapsedTime(start).TotalSeconds;
        MemoryPlan plan = pipeline.MemoryPlan!;
        Console.WriteLine($"memory plan: {plan.Explanation} Stages (weights + working, MiB): {string.Join(", ", plan.Stages.Select(st => $"{st.Name} {st.WeightBytes >> 20} + {st.WorkingBytes >> 20}"))}; " +
            $"keep-loaded peak {plan.KeepLoadedPeakBytes >> 20} MiB, sequential peak {plan.SequentialPeakBytes >> 20} MiB");
        Console.WriteLine($"load: {load:F1} s; RSS {ProcessMemory.ResidentMiB():F0} MiB, peak {ProcessMemory.PeakResidentMiB():F0} MiB (process before: {baseline:F0} MiB)");

        for (int run = 1; run <= runs; run++)
        {
            var stepTimes = new List<double>();
            long last = Stopwatch.GetTimestamp();
            var progress = new StepClock(() =>
            {
                long now = Stopwatch.GetTimestamp();
                stepTimes.Add(Stopwatch.GetElapsedTime(last, now).TotalSeconds);
                last = now;
            });
            start = Stopwatch.GetTimestamp();
            last = start;
            GenerationResult result = pipeline.Generate(new GenerationOptions
            {
                Prompt = "a lighthouse at dusk", Steps = steps, Seed = 1, Width = size, Height = size, GuidanceScale = 7.5f,
                Scheduler = SchedulerCatalog.Create("Euler", pipeline.Scheduler.Config), StepCache = stepCache,
            }, progress);
            double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
            double steady = stepTimes.Count > 1 ? stepTimes.Skip(1).Order().ElementAt((stepTimes.Count - 1) / 2) : stepTimes[0];
            Console.WriteLine($"run {run}: {wall:F1} s; steps {string.Join(" ", stepTimes.Select(t => t.ToString("F2", CultureInfo.InvariantCulture)))} " +
                $"(first {stepTimes[0]:F2}, steady {steady:F2}, first/steady {stepTimes[0] / steady:F2}); text encoder {result.Timings.TextEncoder.TotalSeconds:F2} s, " +
                $"UNet {result.Timings.UNet.TotalSeconds:F2} s ({result.CachedSteps} cached steps), VAE decoder {result.Timings.VaeDecoder.TotalSeconds:F2} s; peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB");
        }
        return 0;
    }

    private static LoraFile ParseLora(string value)
    {
        int colon = value.LastIndexOf(':');
        return colon > 0 && float.TryParse(value.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out float multiplier)
            ? new LoraFile(value[..colon], multiplier)
            : new LoraFile(value);
    }

    private sealed class StepClock(Action tick) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => tick();
    }
}
