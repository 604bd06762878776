using System.Diagnostics;
using System.Globalization;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// The <c>quantization-quality</c> verb: the same prompts and seeds through a model unquantised and with
/// <see cref="SessionSettings.Quantization"/> Int8 and Int4, and the decoded images' PSNR against the unquantised ones
/// (8-bit RGB, peak 255; mean of the per-image PSNR and the worst image), with each mode's generation time; then int8
/// convolutions (<see cref="SessionSettings.QuantizeConvolutions"/>) alone and with int8 linear layers; then the same layers
/// computing in int8 (<see cref="SessionSettings.QuantizeActivations"/>).
/// </summary>
/// <remarks>
/// Usage: <c>quantization-quality [--model DIR] [--size 64] [--steps 20] [--prompts 24] [--threads 2] [--config DIR]</c>.
/// The prompts are the demo model's kind (a coloured shape on a background); any folder or checkpoint works.
/// </remarks>
public static class QuantizationQualityHarness
{
    private static readonly string[] s_backgrounds = ["white", "black", "grey"];

    public static int Run(ReadOnlySpan<string> args)
    {
        // --model and --threads are consumed by BenchmarkSettings before the verb sees its arguments.
        string model = BenchmarkSettings.ModelOr("models/demo-shapes");
        string? config = null;
        int size = 64, steps = 20, prompts = 24, threads = BenchmarkSettings.ThreadsOr(2);
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string value = args[i + 1];
            switch (args[i])
            {
                case "--config": config = value; break;
                case "--size": size = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--prompts": prompts = int.Parse(value, CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        Console.WriteLine(MachineDescription.Describe());
        Console.WriteLine($"model {model}; {size}²; {steps} steps; Euler; guidance 6; {prompts} prompts; threads {threads}");
        var texts = Enumerable.Range(0, prompts)
            .Select(i => $"a {DemoCaptionWords.Colours[i % DemoCaptionWords.Colours.Length]} {DemoCaptionWords.Shapes[i / DemoCaptionWords.Colours.Length % DemoCaptionWords.Shapes.Length]} on a {s_backgrounds[i % s_backgrounds.Length]} background")
            .ToArray();
        List<byte[]>? reference = null;
        foreach ((WeightQuantization mode, bool convolutions, bool activations) in new[] { (WeightQuantization.None, false, false), (WeightQuantization.Int8, false, false),
            (WeightQuantization.Int4, false, false), (WeightQuantization.None, true, false), (WeightQuantization.Int8, true, false),
            (WeightQuantization.Int8, false, true), (WeightQuantization.None, true, true), (WeightQuantization.Int8, true, true) })
        {
            var session = new SessionSettings { IntraOpThreads = threads, Quantization = mode, QuantizeConvolutions = convolutions, QuantizeActivations = activations };
            string label = (convolutions ? $"{mode} + int8 convolutions" : mode.ToString()) + (activations ? ", int8 activations" : "");
            using var pipeline = StableDiffusionPipeline.Load(model, new PipelineSettings { Session = session, ConfigDirectory = config });
            var images = new List<byte[]>();
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < texts.Length; i++)
            {
                GenerationResult result = pipeline.Generate(new GenerationOptions
                {
                    Prompt = texts[i], Steps = steps, Seed = (ulong)(1000 + i), Width = size, Height = size, GuidanceScale = 6f,
                    Scheduler = SchedulerCatalog.Create("Euler", pipeline.Scheduler.Config),
                });
                images.Add(result.Images[0].Pixels);
            }
            double perImage = Stopwatch.GetElapsedTime(start).TotalMilliseconds / texts.Length;
            if (reference is null)
            {
                reference = images;
                Console.WriteLine($"{label}: {perImage:F0} ms/image");
                continue;
            }
            double[] psnr = images.Select((image, i) => ImagePsnr.Of(reference[i], image)).ToArray();
            Console.WriteLine($"{label}: PSNR against unquantised mean {psnr.Where(double.IsFinite).DefaultIfEmpty(double.PositiveInfinity).Average():F1} dB, " +
                $"worst {psnr.Min():F1} dB, identical images {psnr.Count(double.IsPositiveInfinity)}/{psnr.Length}; {perImage:F0} ms/image");
        }
        return 0;
    }
}
