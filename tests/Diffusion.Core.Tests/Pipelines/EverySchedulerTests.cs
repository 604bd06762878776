using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>The tiny-sd pipeline runs with every scheduler the catalogue offers and every random source.</summary>
public sealed class EverySchedulerTests : IClassFixture<EverySchedulerTests.Pipeline>
{
    private readonly Pipeline _pipeline;

    public EverySchedulerTests(Pipeline pipeline) => _pipeline = pipeline;

    public static TheoryData<string> DiffusersClassesAndA1111Names() =>
    [
        "DDIMScheduler", "DDPMScheduler", "PNDMScheduler", "LMSDiscreteScheduler", "EulerDiscreteScheduler",
        "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
        "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler", "LCMScheduler", "TCDScheduler",
        "Euler a", "DPM++ 2M Karras", "DPM++ 2M SDE Karras", "LMS Karras", "dpmpp_2m+karras", "uni_pc_bh2", "euler+sgm_uniform",
    ];

    [Theory]
    [MemberData(nameof(DiffusersClassesAndA1111Names))]
    public void GeneratesWithScheduler(string name)
    {
        IScheduler scheduler = SchedulerCatalog.Create(name, _pipeline.Value.Scheduler.Config);
        GenerationResult result = _pipeline.Value.Generate(TinySd.SmallOptions() with { Scheduler = scheduler, Steps = 3 });

        ImageAssert.SingleImage(result, 64, 64);
        Assert.All(result.Latents, value => Assert.True(float.IsFinite(value), $"{name} produced a non-finite latent"));
    }

    [Theory]
    [InlineData(RandomSourceKind.Torch)]
    [InlineData(RandomSourceKind.Numpy)]
    [InlineData(RandomSourceKind.Fast)]
    public void EachRandomSourceIsReproducibleAndDistinct(RandomSourceKind kind)
    {
        GenerationOptions options = TinySd.SmallOptions("Euler a") with { RandomSource = kind, Steps = 2 };
        float[] first = _pipeline.Value.Generate(options).Latents;
        float[] again = _pipeline.Value.Generate(options with { Scheduler = SchedulerCatalog.Create("Euler a", SchedulerConfig.StableDiffusion15) }).Latents;
        RandomSourceKind other = kind == RandomSourceKind.Torch ? RandomSourceKind.Numpy : RandomSourceKind.Torch;
        float[] different = _pipeline.Value.Generate(options with { RandomSource = other, Scheduler = SchedulerCatalog.Create("Euler a", SchedulerConfig.StableDiffusion15) }).Latents;

        Assert.Equal(first, again);
        Assert.NotEqual(first, different);
    }

    [Fact]
    public void InitialLatentsAreTorchRandnForTheSeed()
    {
        // With one DDIM step at t = 1 the final latents are a known affine map of the initial noise, so check the
        // draw itself instead: the pipeline's first N(0,1) draw must be torch.randn(1,4,8,8) for the seed.
        float[] expected = new float[4 * 8 * 8];
        new TorchCpuRandomSource(1234).NextStandardNormal(expected);
        var recorder = new RecordingScheduler(SchedulerCatalog.Create("Euler", SchedulerConfig.StableDiffusion15));

        _pipeline.Value.Generate(TinySd.SmallOptions() with { Scheduler = recorder, Steps = 1, Seed = 1234 });

        float sigma = recorder.InitNoiseSigma;
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i] * sigma, recorder.FirstSample![i], 5);
    }

    /// <summary>Loads tiny-sd once for the class.</summary>
    public sealed class Pipeline : IDisposable
    {
        private StableDiffusionPipeline? _value;

        public StableDiffusionPipeline Value => _value ??= TinySd.Load();

        public void Dispose() => _value?.Dispose();
    }

    /// <summary>Delegates to a scheduler and records the latents it is first asked to scale.</summary>
    private sealed class RecordingScheduler(IScheduler inner) : IScheduler
    {
        public float[]? FirstSample { get; private set; }

        public SchedulerConfig Config => inner.Config;

        public int Order => inner.Order;

        public float InitNoiseSigma => inner.InitNoiseSigma;

        public ReadOnlySpan<float> Timesteps => inner.Timesteps;

        public void SetTimesteps(int inferenceSteps) => inner.SetTimesteps(inferenceSteps);

        public void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
        {
            FirstSample ??= sample.ToArray();
            inner.ScaleModelInput(sample, stepIndex, destination);
        }

        public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
            => inner.Step(modelOutput, stepIndex, sample, random);

        public void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
            => inner.AddNoise(originalSample, noise, stepIndex, destination);
    }
}
