using System.Diagnostics;
using System.Globalization;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// The <c>step-cache</c> verb: the same prompts and seeds with and without <see cref="GenerationOptions.StepCache"/>
/// (DeepCache) at each step count, and for each setting the decoded images' PSNR against the uncached ones (8-bit RGB,
/// mean and worst image), the UNet time per image and the whole generation's, and their speed-ups.
/// </summary>
/// <remarks>
/// Usage: <c>step-cache [--model DIR|FILE] [--config DIR] [--size 64] [--steps 20,50] [--prompts 12] [--threads 2]
/// [--settings 2:0,3:0,3:1,5:0] [--spinning on|off] [--warmup on|off]</c> (a setting is INTERVAL:POINT; <c>--spinning</c> sets ONNX Runtime's
/// <c>session.intra_op.allow_spinning</c> for every session; by default only the cached pair's sessions sleep when idle). Each configuration generates one untimed image first,
/// so session loads (the cut pair's included) are not timed; <c>--warmup off</c> skips it for big models (a session load is
/// outside the UNet time either way, the first run's own extra cost is not).
/// </remarks>
public static class StepCacheHarness
{
    private static readonly string[] s_backgrounds = ["white", "black", "gray", "blue"];

    public static int Run(ReadOnlySpan<string> args)
    {
        // --model and --threads are consumed by BenchmarkSettings before the verb sees its arguments.
        string model = BenchmarkSettings.ModelOr("models/demo-shapes");
        string? config = null;
        string? spinning = null;
        bool warmup = true;
        int size = 64, prompts = 12, threads = BenchmarkSettings.ThreadsOr(2);
        int[] stepCounts = [20, 50];
        DeepCache[] settings = [new(2, 0), new(3, 0), new(3, 1), new(5, 0)];
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string value = args[i + 1];
            switch (args[i])
            {
                case "--config": config = value; break;
                case "--size": size = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--steps": stepCounts = [.. value.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture))]; break;
                case "--prompts": prompts = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = value switch { "on" => true, "off" => false, _ => throw new ArgumentException("--warmup is on or off") }; break;
                case "--spinning": spinning = value switch { "on" => "1", "off" => "0", _ => throw new ArgumentException("--spinning is on or off") }; break;
                case "--settings":
                    settings = [.. value.Split(',').Select(v => v.Split(':')).Select(p => new DeepCache(int.Parse(p[0], CultureInfo.InvariantCulture),
                        p.Length > 1 ? int.Parse(p[1], CultureInfo.InvariantCulture) : 0))];
                    break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        Console.WriteLine(MachineDescription.Describe());
        Console.WriteLine($"model {model}; {size}²; DDIM; guidance 6; {prompts} prompts; threads {threads}; spinning {spinning switch { "1" => "on", "0" => "off", _ => "default" }}");
        string[] texts = [.. Enumerable.Range(0, prompts).Select(i =>
            $"a large {DemoCaptionWords.Colours[i % DemoCaptionWords.Colours.Length]} {DemoCaptionWords.Shapes[i / DemoCaptionWords.Colours.Length % DemoCaptionWords.Shapes.Length]} on a {s_backgrounds[i % s_backgrounds.Length]} background, center")];
        using var pipeline = StableDiffusionPipeline.Load(model, new PipelineSettings { Session = new SessionSettings { IntraOpThreads = threads, SessionConfigEntries = spinning is null ? null : new Dictionary<string, string> { ["session.intra_op.allow_spinning"] = spinning } }, ConfigDirectory = config });
        foreach (int steps in stepCounts)
        {
            GenerationOptions Options(int i, DeepCache? cache) => new()
            {
                Prompt = texts[i], Steps = steps, Seed = (ulong)(1000 + i), Width = size, Height = size, GuidanceScale = 6f,
                Scheduler = SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config), StepCache = cache,
            };
            (List<byte[]> images, double unetMs, double totalMs, int cachedSteps) Generate(DeepCache? cache)
            {
                if (warmup)
                    pipeline.Generate(Options(0, cache)); // loads (the pair, for a cached setting), untimed
                var images = new List<byte[]>();
                double unet = 0;
                int cached = 0;
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < texts.Length; i++)
                {
                    GenerationResult result = pipeline.Generate(Options(i, cache));
                    images.Add(result.Images[0].Pixels);
                    unet += result.Timings.UNet.TotalMilliseconds;
                    cached = result.CachedSteps;
                }
                return (images, unet / texts.Length, Stopwatch.GetElapsedTime(start).TotalMilliseconds / texts.Length, cached);
            }

            var (reference, baseUNet, baseTotal, _) = Generate(null);
            Console.WriteLine($"{steps} steps, no caching: UNet {baseUNet:F1} ms/image, whole generation {baseTotal:F1} ms/image");
            foreach (DeepCache cache in settings)
            {
                var (images, unetMs, totalMs, cachedSteps) = Generate(cache);
                double[] psnr = [.. images.Select((image, i) => ImagePsnr.Of(reference[i], image))];
                Console.WriteLine($"{steps} steps, interval {cache.Interval}, point {cache.CachePoint} ({cachedSteps} cached steps): " +
                    $"UNet {unetMs:F1} ms/image ({baseUNet / unetMs:F2}×), whole {totalMs:F1} ms/image ({baseTotal / totalMs:F2}×); " +
                    $"PSNR against no caching mean {psnr.Where(double.IsFinite).DefaultIfEmpty(double.PositiveInfinity).Average():F1} dB, worst {psnr.Min():F1} dB");
            }
        }
        return 0;
    }
}
