namespace Diffusion.Core.Adapters;

/// <summary>
/// The pipeline component a LoRA's modules belong to, told apart by key prefix: kohya <c>lora_unet_</c> /
/// <c>lora_te_</c> (<c>lora_te1_</c>) / <c>lora_te2_</c>, diffusers <c>unet.</c> / <c>transformer.</c> /
/// <c>text_encoder.</c> / <c>text_encoder_2.</c>.
/// </summary>
public enum LoraTarget
{
    /// <summary>The denoising UNet.</summary>
    UNet,

    /// <summary>The (first) CLIP text encoder.</summary>
    TextEncoder,

    /// <summary>The second text encoder: SD-XL's and SD3's CLIP-G, FLUX.1's T5.</summary>
    TextEncoder2,

    /// <summary>The diffusion transformer of SD3 and FLUX.1 (diffusers' <c>transformer.</c> keys).</summary>
    Transformer,
}
