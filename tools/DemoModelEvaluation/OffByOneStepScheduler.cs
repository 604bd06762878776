using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// A deliberately wrong scheduler for control runs: the UNet gets the right timestep, but the update is computed one
/// step ahead — step <c>i</c> runs the wrapped scheduler's step <c>i + 1</c> (the last step repeats itself). For DDIM
/// this is the off-by-one of a port that reads <c>alphas_cumprod</c> at the next timestep: the sample is treated as
/// less noisy than it is, so each step removes too little noise and the last leaves some behind.
/// </summary>
/// <remarks>Only for schedulers whose step depends on the index alone (DDIM, Euler); multistep history would be fed out of order.</remarks>
public sealed class OffByOneStepScheduler(IScheduler inner) : ForwardingScheduler(inner)
{
    /// <summary>The wrong part: runs the wrapped scheduler's step <c>min(stepIndex + 1, last)</c>.</summary>
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null) =>
        Inner.Step(modelOutput, Math.Min(stepIndex + 1, Inner.Timesteps.Length - 1), sample, random);
}
