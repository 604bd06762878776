using BenchmarkDotNet.Attributes;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// Model-bound work on the configured model (--model, default ../shared/models/tiny-sd) and provider:
/// one UNet step at 512² with a guidance batch of 2, one VAE decode at 512², and a whole 512² generation
/// (Euler, 20 steps, guidance 7.5). Short job (3 warm-ups, 3 iterations): each invocation takes seconds.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class ModelBenchmarks
{
    private StableDiffusionPipeline _pipeline = null!;
    private float[] _sample = null!;
    private float[] _embeddings = null!;
    private float[] _prediction = null!;
    private float[] _latents = null!;
    private float[] _image = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pipeline = StableDiffusionPipeline.Load(BenchmarkSettings.ModelDirectory, new PipelineSettings { Session = BenchmarkSettings.Session });
        int width = _pipeline.TextEncoder.GetHiddenSize();
        _sample = new float[2 * 4 * 64 * 64];
        _prediction = new float[_sample.Length];
        _embeddings = new float[2 * 77 * width];
        _latents = new float[4 * 64 * 64];
        _image = new float[3 * 512 * 512];
        new Randomness.FastRandomSource(5).NextStandardNormal(_sample);
        new Randomness.FastRandomSource(6).NextStandardNormal(_embeddings);
        new Randomness.FastRandomSource(7).NextStandardNormal(_latents);
    }

    [GlobalCleanup]
    public void Cleanup() => _pipeline.Dispose();

    [Benchmark]
    public void UNetStep() => _pipeline.UNet.Predict(_sample, 2, 64, 64, 500f, _embeddings, 77, _prediction);

    [Benchmark]
    public void VaeDecode() => _pipeline.VaeDecoder.Decode(_latents, 1, 64, 64, _image);

    [Benchmark]
    public GenerationResult Generate512() => _pipeline.Generate(new GenerationOptions
    {
        Prompt = "a photo of a cat",
        Steps = 20,
        GuidanceScale = 7.5f,
        Width = 512,
        Height = 512,
        Seed = 42,
        Scheduler = Schedulers.SchedulerCatalog.Create("Euler", _pipeline.Scheduler.Config),
    });
}
