using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// A deliberately wrong scheduler for control runs: the UNet is told a wrong timestep while the wrapped
/// scheduler's own step math stays right. <see cref="NextStep"/> is an off-by-one in the timestep index;
/// <see cref="StepIndex"/> passes the loop index (0, 1, 2, …) where the timestep value belongs.
/// </summary>
/// <remarks>
/// The denoising loop passes <see cref="Timesteps"/>[i] to the UNet and calls <see cref="Step"/> with i; this
/// wrapper answers <see cref="Timesteps"/> with the mislabelled values and forwards everything else.
/// </remarks>
public sealed class MislabelledTimestepScheduler : IScheduler
{
    private readonly IScheduler _inner;
    private readonly bool _stepIndex;
    private float[] _labels = [];

    private MislabelledTimestepScheduler(IScheduler inner, bool stepIndex)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _stepIndex = stepIndex;
    }

    /// <summary>
    /// The UNet gets the next step's timestep: <c>inner.Timesteps[i + 1]</c> (for the last step, one more step's
    /// spacing further, floored at 0).
    /// </summary>
    public static MislabelledTimestepScheduler NextStep(IScheduler inner) => new(inner, stepIndex: false);

    /// <summary>The UNet gets the step index i instead of the timestep value.</summary>
    public static MislabelledTimestepScheduler StepIndex(IScheduler inner) => new(inner, stepIndex: true);

    /// <inheritdoc />
    public SchedulerConfig Config => _inner.Config;

    /// <inheritdoc />
    public int Order => _inner.Order;

    /// <inheritdoc />
    public float InitNoiseSigma => _inner.InitNoiseSigma;

    /// <summary>The wrong timesteps the UNet is given.</summary>
    public ReadOnlySpan<float> Timesteps => _labels;

    /// <inheritdoc />
    public void SetTimesteps(int inferenceSteps)
    {
        _inner.SetTimesteps(inferenceSteps);
        ReadOnlySpan<float> right = _inner.Timesteps;
        _labels = new float[right.Length];
        int last = right.Length - 1;
        for (int i = 0; i <= last; i++)
        {
            if (_stepIndex)
                _labels[i] = i;
            else if (i < last)
                _labels[i] = right[i + 1];
            else
                _labels[i] = last > 0 ? Math.Max(0f, 2 * right[last] - right[last - 1]) : right[last];
        }
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
