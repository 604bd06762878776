namespace Diffusion.Core.Families;

/// <summary>
/// A model family described once: the diffusers pipeline classes that name it in <c>model_index.json</c>, the text
/// encoders it conditions on, the denoiser inputs it adds to <c>sample</c>/<c>timestep</c>/<c>encoder_hidden_states</c>,
/// its latent channels and default size. The pipeline reads a folder's family from its <c>_class_name</c> (optimum's
/// <c>ORT…</c> and diffusers' <c>Onnx…</c> exporter names included), else from the denoiser's declared inputs;
/// <c>PipelineSettings.Family</c> overrides both.
/// </summary>
public sealed record ModelFamily
{
    /// <summary>A readable name, e.g. "Stable Diffusion 1.x/2.x".</summary>
    public required string Name { get; init; }

    /// <summary>The diffusers pipeline classes of the family (without exporter prefixes).</summary>
    public required IReadOnlyList<string> PipelineClassNames { get; init; }

    /// <summary>How many text encoders (and tokenizers) condition the denoiser.</summary>
    public int TextEncoderCount { get; init; } = 1;

    /// <summary>Denoiser inputs beyond sample, timestep and encoder_hidden_states, bound by these names.</summary>
    public IReadOnlyList<string> ExtraDenoiserInputs { get; init; } = [];

    /// <summary>Latent channels the VAE and denoiser work in.</summary>
    public int LatentChannels { get; init; } = 4;

    /// <summary>Width and height used when neither the call nor the UNet config gives one.</summary>
    public int DefaultImageSize { get; init; } = 512;

    /// <summary>Classifier-free guidance scale when a call gives none: diffusers' pipeline default (7.5 for SD, 5 for SDXL).</summary>
    public float DefaultGuidanceScale { get; init; } = 7.5f;

    /// <summary>Image-to-image strength when a call gives none: diffusers' pipeline default (0.8 for SD, 0.3 for SDXL).</summary>
    public double DefaultImageToImageStrength { get; init; } = 0.8;

    /// <summary>Inpainting strength when a call gives none: diffusers' pipeline default (1 for SD, 0.9999 for SDXL, so the masked image still seeds the latents).</summary>
    public double DefaultInpaintingStrength { get; init; } = 1.0;

    /// <summary>Whether this version's pipeline runs the family (others are recognised and refused by name).</summary>
    public bool IsRunnable { get; init; }

    /// <summary>
    /// Whether the denoiser is a flow-matching transformer (SD3/3.5, FLUX.1), run by <c>FlowMatchingPipeline</c>; the
    /// UNet families run in <c>StableDiffusionPipeline</c>.
    /// </summary>
    public bool IsFlowMatchingTransformer { get; init; }

    /// <summary>The T5 <c>max_sequence_length</c> when a call gives none: diffusers' pipeline default (256 for SD3, 512 for FLUX.1); 0 without T5.</summary>
    public int DefaultMaxSequenceLength { get; init; }

    /// <summary>Stable Diffusion 1.x and 2.x (incl. v-prediction, inpainting, SD-Turbo): one CLIP text encoder, a 4-channel UNet.</summary>
    public static ModelFamily StableDiffusion { get; } = new()
    {
        Name = "Stable Diffusion 1.x/2.x",
        PipelineClassNames = ["StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"],
        IsRunnable = true,
    };

    /// <summary>Stable Diffusion XL base (and Turbo, Lightning): two text encoders, pooled <c>text_embeds</c> and <c>time_ids</c>.</summary>
    public static ModelFamily StableDiffusionXL { get; } = new()
    {
        Name = "Stable Diffusion XL",
        PipelineClassNames = ["StableDiffusionXLPipeline", "StableDiffusionXLInpaintPipeline"],
        TextEncoderCount = 2,
        ExtraDenoiserInputs = ["text_embeds", "time_ids"],
        DefaultImageSize = 1024,
        DefaultGuidanceScale = 5f,
        DefaultImageToImageStrength = 0.3,
        DefaultInpaintingStrength = 0.9999,
        IsRunnable = true,
    };

    /// <summary>The Stable Diffusion XL refiner: text_encoder_2 only, aesthetic-score <c>time_ids</c>.</summary>
    public static ModelFamily StableDiffusionXLRefiner { get; } = new()
    {
        Name = "Stable Diffusion XL refiner",
        PipelineClassNames = ["StableDiffusionXLImg2ImgPipeline"],
        ExtraDenoiserInputs = ["text_embeds", "time_ids"],
        DefaultImageSize = 1024,
        DefaultGuidanceScale = 5f,
        DefaultImageToImageStrength = 0.3,
        DefaultInpaintingStrength = 0.9999,
        IsRunnable = true,
    };

    /// <summary>
    /// Stable Diffusion 3 and 3.5 (MMDiT): CLIP-L and CLIP-G (penultimate hidden states and projections) and T5, a
    /// 16-channel VAE with a shift, classifier-free guidance (diffusers' default 7).
    /// </summary>
    public static ModelFamily StableDiffusion3 { get; } = new()
    {
        Name = "Stable Diffusion 3/3.5",
        PipelineClassNames = ["StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline", "StableDiffusion3InpaintPipeline"],
        TextEncoderCount = 3,
        ExtraDenoiserInputs = ["pooled_projections"],
        LatentChannels = 16,
        DefaultImageSize = 1024,
        DefaultGuidanceScale = 7f,
        DefaultImageToImageStrength = 0.6,
        DefaultInpaintingStrength = 0.6,
        DefaultMaxSequenceLength = 256,
        IsRunnable = true,
        IsFlowMatchingTransformer = true,
    };

    /// <summary>
    /// FLUX.1 (schnell, dev): CLIP-L's pooled output and T5's tokens, latents packed into 2×2 patches with RoPE position ids,
    /// no classifier-free guidance; dev embeds the guidance scale (diffusers' default 3.5).
    /// </summary>
    public static ModelFamily Flux { get; } = new()
    {
        Name = "FLUX.1",
        PipelineClassNames = ["FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline"],
        TextEncoderCount = 2,
        ExtraDenoiserInputs = ["pooled_projections", "img_ids", "txt_ids", "guidance"],
        LatentChannels = 16,
        DefaultImageSize = 1024,
        DefaultGuidanceScale = 3.5f,
        DefaultImageToImageStrength = 0.6,
        DefaultInpaintingStrength = 0.6,
        DefaultMaxSequenceLength = 512,
        IsRunnable = true,
        IsFlowMatchingTransformer = true,
    };

    /// <summary>Every family this version recognises.</summary>
    public static IReadOnlyList<ModelFamily> Known { get; } = [StableDiffusion, StableDiffusionXL, StableDiffusionXLRefiner, StableDiffusion3, Flux];
}
