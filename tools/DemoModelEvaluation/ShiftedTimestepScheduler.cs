using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// A deliberately wrong scheduler for control runs: it tells the UNet the timestep of the <em>next</em> step
/// (an off-by-one in the timestep index) while the wrapped scheduler's own step math stays right. A sound
/// evaluation must score a pipeline using it clearly lower than the real one.
/// </summary>
/// <remarks>
/// The denoising loop passes <see cref="Timesteps"/>[i] to the UNet and calls <see cref="Step"/> with i; this
/// wrapper returns <c>inner.Timesteps[i + 1]</c> there (for the last step, one more step's spacing further,
/// floored at 0), and forwards everything else.
/// </remarks>
public sealed class ShiftedTimestepScheduler : IScheduler
{
    private readonly IScheduler _inner;
    private float[] _shifted = [];

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    public ShiftedTimestepScheduler(IScheduler inner)
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

    /// <summary>The wrapped scheduler's timesteps moved one step later (the wrong values the UNet is given).</summary>
    public ReadOnlySpan<float> Timesteps => _shifted;

    /// <inheritdoc />
    public void SetTimesteps(int inferenceSteps)
    {
        _inner.SetTimesteps(inferenceSteps);
        ReadOnlySpan<float> right = _inner.Timesteps;
        _shifted = new float[right.Length];
        for (int i = 0; i + 1 < right.Length; i++)
            _shifted[i] = right[i + 1];
        int last = right.Length - 1;
        _shifted[last] = right.Length > 1 ? Math.Max(0f, 2 * right[last] - right[last - 1]) : right[last];
    }

    /// <inheritdoc />
    public void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination) =>
        _inner.ScaleModelInput(sample, stepIndex, destination);

    /// <inheritdoc />
    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null) =>
        _inner.Step(modelOutput, stepIndex, sample, random);

    /// <inheritdoc />
    public void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination) =>
        _inner.AddNoise(originalSample, noise, stepIndex, destination);
}
