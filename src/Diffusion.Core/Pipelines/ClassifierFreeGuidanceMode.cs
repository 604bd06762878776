namespace Diffusion.Core.Pipelines;

/// <summary>How the conditional and unconditional UNet passes of classifier-free guidance are run.</summary>
public enum ClassifierFreeGuidanceMode
{
    /// <summary>One UNet call with both halves batched when the UNet has a dynamic (or large enough) batch dimension, else separate calls.</summary>
    Auto,

    /// <summary>Always one batched call; fails if the UNet's batch dimension is fixed to another size.</summary>
    Batched,

    /// <summary>Always two calls (unconditional, then conditional): halves the UNet's peak activation memory.</summary>
    Separate,
}
