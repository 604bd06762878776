using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// Forwards every <see cref="IScheduler"/> member to a wrapped scheduler; the deliberately wrong control schedulers
/// derive from it and override the one member they get wrong.
/// </summary>
public abstract class ForwardingScheduler : IScheduler
{
    /// <summary>Wraps <paramref name="inner"/>.</summary>
    protected ForwardingScheduler(IScheduler inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        Inner = inner;
    }

    /// <summary>The wrapped (right) scheduler.</summary>
    protected IScheduler Inner { get; }

    /// <inheritdoc />
    public SchedulerConfig Config => Inner.Config;

    /// <inheritdoc />
    public int Order => Inner.Order;

    /// <inheritdoc />
    public float InitNoiseSigma => Inner.InitNoiseSigma;

    /// <inheritdoc />
    public virtual ReadOnlySpan<float> Timesteps => Inner.Timesteps;

    /// <inheritdoc />
    public virtual void SetTimesteps(int inferenceSteps) => Inner.SetTimesteps(inferenceSteps);

    /// <inheritdoc />
    public virtual void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination) =>
        Inner.ScaleModelInput(sample, stepIndex, destination);

    /// <inheritdoc />
    public virtual void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null) =>
        Inner.Step(modelOutput, stepIndex, sample, random);

    /// <inheritdoc />
    public void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination) =>
        Inner.AddNoise(originalSample, noise, stepIndex, destination);
}
