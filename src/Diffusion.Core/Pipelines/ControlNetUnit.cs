using Diffusion.Core.Imaging;
using Diffusion.Core.Models;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// One ControlNet steering a generation (an entry of <see cref="GenerationOptions.ControlNets"/>): the model
/// (a split-form <see cref="ControlNet"/>, or the index of a ControlNet fused into the UNet), its control
/// image, its strength and the part of the denoising it is active in. Several units are summed, as
/// diffusers' <c>MultiControlNetModel</c> does.
/// </summary>
public sealed record ControlNetUnit
{
    /// <summary>A split-form ControlNet (its residuals go to a UNet with residual inputs); the caller owns and disposes it. Leave null for a fused UNet.</summary>
    public ControlNet? Model { get; init; }

    /// <summary>For a fused UNet (<see cref="UNet.IsFusedControlNet"/>): which of its ControlNets (0-based, the export's order) this unit drives.</summary>
    public int? FusedIndex { get; init; }

    /// <summary>
    /// The control image (e.g. <see cref="CannyEdgeDetector.Detect"/>'s edges), fed as RGB in [0, 1] (<c>byte / 255</c>,
    /// not normalised to [-1, 1]: diffusers' control image processor uses <c>do_normalize=False</c>), after
    /// <see cref="Resize"/>.
    /// </summary>
    public ImageBuffer? Image { get; init; }

    /// <summary>diffusers' <c>controlnet_conditioning_scale</c>: the residuals are multiplied by it. 0 turns the unit off.</summary>
    public float ConditioningScale { get; init; } = 1f;

    /// <summary>
    /// diffusers' <c>control_guidance_start</c>: fraction of the steps before which the unit is off. Step <c>i</c> of
    /// <c>n</c> is active when <c>i / n ≥ start</c> and <c>(i + 1) / n ≤ end</c> (diffusers' <c>controlnet_keep</c>).
    /// </summary>
    public double GuidanceStart { get; init; }

    /// <summary>diffusers' <c>control_guidance_end</c>: fraction of the steps after which the unit is off (see <see cref="GuidanceStart"/>).</summary>
    public double GuidanceEnd { get; init; } = 1.0;

    /// <summary>How the image is brought to the generation size; <see cref="ControlNetImageResize.Stretch"/> is diffusers' behaviour.</summary>
    public ControlNetImageResize Resize { get; init; } = ControlNetImageResize.Stretch;

    /// <summary>
    /// Whether the unit acts at step <paramref name="step"/> of <paramref name="totalSteps"/>: diffusers'
    /// <c>1.0 - float(i / n &lt; start or (i + 1) / n &gt; end)</c>, in double precision as Python computes it.
    /// </summary>
    public bool IsActiveAt(int step, int totalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalSteps, 1);
        return !((double)step / totalSteps < GuidanceStart || (double)(step + 1) / totalSteps > GuidanceEnd);
    }

    /// <summary>Checks the unit as entry <paramref name="index"/> of <see cref="GenerationOptions.ControlNets"/>.</summary>
    internal void Validate(int index)
    {
        string prefix = $"{nameof(GenerationOptions.ControlNets)}[{index}]";
        if (Image is null)
            throw new InvalidOptionException($"{prefix}.{nameof(Image)}", "a control image is required.");
        if (Model is null == FusedIndex is null)
            throw new InvalidOptionException($"{prefix}.{nameof(Model)}", $"set exactly one of {nameof(Model)} (a split ControlNet) and {nameof(FusedIndex)} (a ControlNet fused into the UNet).");
        if (FusedIndex < 0)
            throw new InvalidOptionException($"{prefix}.{nameof(FusedIndex)}", $"must be ≥ 0, got {FusedIndex}.");
        if (!float.IsFinite(ConditioningScale))
            throw new InvalidOptionException($"{prefix}.{nameof(ConditioningScale)}", $"must be finite, got {ConditioningScale}.");
        if (!(GuidanceStart >= 0 && GuidanceStart < GuidanceEnd && GuidanceEnd <= 1))
            throw new InvalidOptionException($"{prefix}.{nameof(GuidanceStart)}",
                $"need 0 ≤ {nameof(GuidanceStart)} < {nameof(GuidanceEnd)} ≤ 1 (diffusers' rule), got {GuidanceStart} and {GuidanceEnd}.");
        if (!Enum.IsDefined(Resize))
            throw new InvalidOptionException($"{prefix}.{nameof(Resize)}", $"unknown resize mode {Resize}.");
    }
}
