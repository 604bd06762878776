using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Pipelines;

public sealed class NumericalInstabilityTests
{
    [Fact]
    public void AUNetProducingNaNIsNamedWithItsStep()
    {
        string nanUNet = Path.Combine(AppContext.BaseDirectory, "TestData", "pipelines", "nan_unet_4ch.onnx");
        using var pipeline = TinySd.WithUNet(nanUNet);

        var exception = Assert.Throws<NumericalInstabilityException>(() => pipeline.Generate(TinySd.SmallOptions()));

        Assert.Equal("UNet", exception.Component);
        Assert.Equal(0, exception.Step);
        Assert.Equal(nanUNet, exception.ModelPath);
        Assert.Contains("float16", exception.Message);
    }

    [Fact]
    public void ASchedulerProducingInfinityIsNamedWithItsStep()
    {
        using var pipeline = TinySd.Load();
        var scheduler = new PoisonedScheduler(SchedulerCatalog.Create("Euler", SchedulerConfig.StableDiffusion15), poisonAtStep: 2);

        var exception = Assert.Throws<NumericalInstabilityException>(() => pipeline.Generate(TinySd.SmallOptions() with { Scheduler = scheduler }));

        Assert.Equal("scheduler", exception.Component);
        Assert.Equal(2, exception.Step);
        Assert.IsAssignableFrom<DiffusionException>(exception);
    }

    /// <summary>Delegates to a real scheduler and writes +∞ into the latents at one step.</summary>
    private sealed class PoisonedScheduler(IScheduler inner, int poisonAtStep) : IScheduler
    {
        public SchedulerConfig Config => inner.Config;

        public int Order => inner.Order;

        public float InitNoiseSigma => inner.InitNoiseSigma;

        public ReadOnlySpan<float> Timesteps => inner.Timesteps;

        public void SetTimesteps(int inferenceSteps) => inner.SetTimesteps(inferenceSteps);

        public void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination) =>
            inner.ScaleModelInput(sample, stepIndex, destination);

        public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
        {
            inner.Step(modelOutput, stepIndex, sample, random);
            if (stepIndex == poisonAtStep)
                sample[5] = float.PositiveInfinity;
        }

        public void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination) =>
            inner.AddNoise(originalSample, noise, stepIndex, destination);
    }
}
