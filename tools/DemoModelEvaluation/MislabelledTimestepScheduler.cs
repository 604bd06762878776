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
public sealed class MislabelledTimestepScheduler : ForwardingScheduler
{
    private readonly bool _stepIndex;
    private float[] _labels = [];

    private MislabelledTimestepScheduler(IScheduler inner, bool stepIndex)
        : base(inner)
    {
        _stepIndex = stepIndex;
    }

    /// <summary>
    /// The UNet gets the next step's timestep: <c>inner.Timesteps[i + 1]</c> (for the last step, one more step's
    /// spacing further, floored at 0).
    /// </summary>
    public static MislabelledTimestepScheduler NextStep(IScheduler inner) => new(inner, stepIndex: false);

    /// <summary>The UNet gets the step index i instead of the timestep value.</summary>
    public static MislabelledTimestepScheduler StepIndex(IScheduler inner) => new(inner, stepIndex: true);

    /// <summary>The wrong timesteps the UNet is given.</summary>
    public override ReadOnlySpan<float> Timesteps => _labels;

    /// <inheritdoc />
    public override void SetTimesteps(int inferenceSteps)
    {
        Inner.SetTimesteps(inferenceSteps);
        ReadOnlySpan<float> right = Inner.Timesteps;
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
}
