using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// A deliberately wrong scheduler for control runs: the UNet gets the right timestep, but the update is computed for
/// the neighbouring step. <see cref="Ahead"/>: step <c>i</c> runs the wrapped scheduler's step <c>i + 1</c> (the last
/// repeats itself), so the sample is treated as less noisy than it is and each step removes too little noise.
/// <see cref="Behind"/>: step <c>i</c> runs step <c>i − 1</c> (the first repeats itself), so each step removes too
/// much and the loop ends one step short of the clean image. For DDIM these are the off-by-ones of a port that reads
/// <c>alphas_cumprod</c> at the wrong timestep.
/// </summary>
/// <remarks>Only for schedulers whose step depends on the index alone (DDIM, Euler); multistep history would be fed out of order.</remarks>
public sealed class OffByOneStepScheduler : ForwardingScheduler
{
    private readonly int _shift;

    private OffByOneStepScheduler(IScheduler inner, int shift)
        : base(inner)
    {
        _shift = shift;
    }

    /// <summary>Step <c>i</c> runs the wrapped scheduler's step <c>min(i + 1, last)</c>.</summary>
    public static OffByOneStepScheduler Ahead(IScheduler inner) => new(inner, +1);

    /// <summary>Step <c>i</c> runs the wrapped scheduler's step <c>max(i − 1, 0)</c>.</summary>
    public static OffByOneStepScheduler Behind(IScheduler inner) => new(inner, -1);

    /// <summary>The wrong part: runs the wrapped scheduler's neighbouring step.</summary>
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null) =>
        Inner.Step(modelOutput, Math.Clamp(stepIndex + _shift, 0, Inner.Timesteps.Length - 1), sample, random);
}
