using Diffusion.Core.Schedulers;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// A deliberately wrong scheduler for control runs: it skips <c>scale_model_input</c> (the UNet gets the raw latents),
/// the classic bug of porting a k-diffusion-style scheduler such as Euler, whose latents carry a noise level σ up to
/// ~14.6 that the UNet input must be divided by √(σ² + 1). Everything else is the wrapped scheduler's.
/// </summary>
public sealed class UnscaledModelInputScheduler(IScheduler inner) : ForwardingScheduler(inner)
{
    /// <summary>The wrong part: copies <paramref name="sample"/> unscaled.</summary>
    public override void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination) => sample.CopyTo(destination);
}
