using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// A deliberately wrong scheduler for control runs: it skips <c>scale_model_input</c> (the UNet gets the raw latents),
/// the classic bug of porting a k-diffusion-style scheduler such as Euler, whose latents carry a noise level σ up to
/// ~14.6 that the UNet input must be divided by √(σ² + 1). Everything else is the wrapped scheduler's.
/// </summary>
public sealed class UnscaledModelInputScheduler : IScheduler
{
    private readonly IScheduler _inner;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    public UnscaledModelInputScheduler(IScheduler inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
    }

    /// <inheritdoc />
    public SchedulerConfig Config => _inner.Config;

    /// <inheritdoc />
    public int Order => _inner.Order;

    /// <inheritdoc />
    public float InitNoiseSigma => _inner.InitNoiseSigma;

    /// <inheritdoc />
    public ReadOnlySpan<float> Timesteps => _inner.Timesteps;

    /// <inheritdoc />
    public void SetTimesteps(int inferenceSteps) => _inner.SetTimesteps(inferenceSteps);

    /// <summary>The wrong part: copies <paramref name="sample"/> unscaled.</summary>
    public void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination) => sample.CopyTo(destination);

    /// <inheritdoc />
    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null) =>
        _inner.Step(modelOutput, stepIndex, sample, random);

    /// <inheritdoc />
    public void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination) =>
        _inner.AddNoise(originalSample, noise, stepIndex, destination);
}
