using Diffusion.Core.Imaging;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// What to generate: the per-call option bag of a pipeline. Defaults follow diffusers'
/// <c>StableDiffusionPipeline.__call__</c> except <see cref="Steps"/> (25 rather than 50).
/// All checks live in <see cref="Validate"/>, which pipelines call before any model runs.
/// </summary>
/// <remarks>
/// One option bag for the three tasks: no <see cref="InitImage"/> is text-to-image; an <see cref="InitImage"/> is
/// image-to-image (diffusers' <c>StableDiffusionImg2ImgPipeline</c>); an <see cref="InitImage"/> with a
/// <see cref="Mask"/> is inpainting (diffusers' <c>StableDiffusionInpaintPipeline</c>). See docs/pipelines.md.
/// </remarks>
public sealed record GenerationOptions
{
    /// <summary>The text to depict.</summary>
    public string Prompt { get; init; } = string.Empty;

    /// <summary>Text to steer away from; empty means the unconditional (empty-prompt) embedding, as diffusers does.</summary>
    public string NegativePrompt { get; init; } = string.Empty;

    /// <summary>
    /// Classifier-free guidance scale, 0 to <see cref="MaxGuidanceScale"/>; values ≤ 1 skip the unconditional pass
    /// (diffusers' rule). <see langword="null"/> (the default) takes the model family's default, diffusers' pipeline
    /// default: 7.5 for SD 1.x/2.x, 5 for SDXL (<see cref="Families.ModelFamily.DefaultGuidanceScale"/>).
    /// </summary>
    public float? GuidanceScale { get; init; }

    /// <summary>
    /// The largest <see cref="GuidanceScale"/> accepted: 100. Models are used at 1–30 (the web UI's slider ends at 30);
    /// far above, the guided prediction only saturates (1e30 returned a flat image instead of an error).
    /// </summary>
    public const float MaxGuidanceScale = 100f;

    /// <summary>Number of denoising steps (scheduler inference steps).</summary>
    public int Steps { get; init; } = 25;

    /// <summary>Image width in pixels: positive multiple of 8. Null means the model's default size.</summary>
    public int? Width { get; init; }

    /// <summary>Image height in pixels: positive multiple of 8. Null means the model's default size.</summary>
    public int? Height { get; init; }

    /// <summary>Seed of the random source. Null draws a fresh seed, reported in <see cref="GenerationResult.Seed"/>.</summary>
    public ulong? Seed { get; init; }

    /// <summary>
    /// Which generator produces the noise. <see cref="RandomSourceKind.Torch"/> (the default) reproduces
    /// diffusers' PyTorch pipelines run with <c>generator=torch.Generator("cpu").manual_seed(seed)</c>;
    /// <see cref="RandomSourceKind.Numpy"/> reproduces diffusers' ONNX pipelines (<c>np.random.RandomState(seed)</c>).
    /// </summary>
    public RandomSourceKind RandomSource { get; init; } = RandomSourceKind.Torch;

    /// <summary>Images generated for the prompt, as one batch.</summary>
    public int ImagesPerPrompt { get; init; } = 1;

    /// <summary>A scheduler to use for this call instead of the pipeline's; it is reset by the call (<c>SetTimesteps</c>).</summary>
    public IScheduler? Scheduler { get; init; }

    /// <summary>
    /// ControlNets steering this call, summed (diffusers' <c>MultiControlNetModel</c>); empty for none. Split
    /// units need a UNet with residual inputs, fused units a UNet with the ControlNets inside (see <see cref="ControlNetUnit"/>).
    /// </summary>
    public IReadOnlyList<ControlNetUnit> ControlNets { get; init; } = [];

    /// <summary>
    /// How prompts are read: <see cref="PromptSyntax.Plain"/> (the default) as diffusers does, one 77-token window, the
    /// text as written; <see cref="PromptSyntax.Weighted"/> as the AUTOMATIC1111 web UI does: <c>(word:1.3)</c>,
    /// <c>[word]</c>, <c>BREAK</c>, prompts of any length in 75-token chunks.
    /// </summary>
    public PromptSyntax PromptSyntax { get; init; } = PromptSyntax.Plain;

    /// <summary>
    /// The AUTOMATIC1111 web UI's clip skip (see <see cref="PromptEmbedder.ClipSkip"/>): 1 (the default) uses the text
    /// encoder's last layer; N &gt; 1 needs a text encoder exported with <c>hidden_states.N</c> outputs.
    /// </summary>
    public int ClipSkip { get; init; } = 1;

    /// <summary>
    /// The image to start from (image-to-image and inpainting). It is resized (Pillow Lanczos, as diffusers'
    /// <c>VaeImageProcessor</c>) to <see cref="Width"/>×<see cref="Height"/>; a size not given is, for image-to-image,
    /// the image's own rounded down to a multiple of 8 (a 600×403 photo gives 600×400), and for inpainting the model's
    /// default size, as the two diffusers pipelines do.
    /// </summary>
    public ImageBuffer? InitImage { get; init; }

    /// <summary>
    /// How much of <see cref="InitImage"/> to repaint, 0 to 1. The denoising starts at step
    /// <c>steps − min(floor(steps·strength), steps)</c> (diffusers' <c>get_timesteps</c>), so 0 returns the VAE round trip
    /// of the image and 1 runs every step. Null means the family's diffusers default: 0.8 for image-to-image and 1 for
    /// inpainting with SD 1.x/2.x, 0.3 and 0.9999 with SDXL.
    /// </summary>
    public double? Strength { get; init; }

    /// <summary>
    /// Inpainting mask, the same size as <see cref="InitImage"/>: white (luma ≥ 128) marks the region to repaint, black
    /// the region to keep. It is binarised as diffusers' mask processor does.
    /// </summary>
    public ImageBuffer? Mask { get; init; }

    /// <summary>
    /// With <see cref="Mask"/>: paste the original pixels back outside the mask after decoding (A1111's inpainting overlay),
    /// so the kept region is byte-identical to the (resized) <see cref="InitImage"/>. Off by default (diffusers returns the
    /// decoded image, whose kept region differs by the VAE round trip).
    /// </summary>
    public bool PreserveUnmaskedPixels { get; init; }

    /// <summary>
    /// Feather radius in pixels of the paste-back edge for <see cref="PreserveUnmaskedPixels"/>: the mask is blurred by a
    /// Gaussian (σ = radius/2, cut at the radius); pixels farther than the radius from the mask keep their original bytes.
    /// 0 (the default) is a hard edge. The mask the models see stays binary.
    /// </summary>
    public int MaskBlur { get; init; }

    /// <summary>
    /// Latents to start from instead of noise or an image (UNet space, e.g. <see cref="GenerationResult.LatentImage"/> of a
    /// call with <see cref="DenoisingEnd"/>): SDXL's base → refiner hand-off. The size comes from them; with
    /// <see cref="DenoisingStart"/> they are denoised as they are, without it they are noised to the start step like an
    /// encoded <see cref="InitImage"/> (diffusers' img2img with a 4-channel image). Batch 1 or <see cref="ImagesPerPrompt"/>.
    /// </summary>
    public LatentImage? InitLatents { get; init; }

    /// <summary>
    /// Stop denoising after this fraction of the schedule, 0 to 1 exclusive (diffusers' <c>denoising_end</c>): the steps run
    /// are those whose timestep is at least <c>round(1000 − DenoisingEnd·1000)</c>. For a hand-off, pass the result's
    /// <see cref="GenerationResult.LatentImage"/> to a call with the same <see cref="DenoisingStart"/>.
    /// </summary>
    public double? DenoisingEnd { get; init; }

    /// <summary>
    /// Start denoising this fraction into the schedule, 0 to 1 exclusive (diffusers' <c>denoising_start</c>), with
    /// <see cref="InitLatents"/> or <see cref="InitImage"/>: the steps run are those whose timestep is below
    /// <c>round(1000 − DenoisingStart·1000)</c> and no noise is added; <see cref="Strength"/> does not apply.
    /// </summary>
    public double? DenoisingStart { get; init; }

    /// <summary>Decode the latents into images (true, the default); false returns only the latents (diffusers' <c>output_type="latent"</c>).</summary>
    public bool DecodeImages { get; init; } = true;

    /// <summary>SDXL size conditioning: the size the image claims to come from (<c>original_size</c>); null is the output size.</summary>
    public PixelSize? OriginalSize { get; init; }

    /// <summary>SDXL size conditioning: the size asked for (<c>target_size</c>); null is the output size. Not used by the refiner.</summary>
    public PixelSize? TargetSize { get; init; }

    /// <summary>SDXL crop conditioning: the top of the crop (<c>crops_coords_top_left[0]</c>), 0 for a centred, uncropped look.</summary>
    public int CropTop { get; init; }

    /// <summary>SDXL crop conditioning: the left of the crop (<c>crops_coords_top_left[1]</c>).</summary>
    public int CropLeft { get; init; }

    /// <summary>SDXL refiner: the aesthetic score of the prompt's <c>time_ids</c> (diffusers' default 6.0).</summary>
    public float AestheticScore { get; init; } = 6.0f;

    /// <summary>SDXL refiner: the aesthetic score of the negative prompt's <c>time_ids</c> (diffusers' default 2.5).</summary>
    public float NegativeAestheticScore { get; init; } = 2.5f;

    /// <summary>
    /// FLUX.1 only: diffusers' <c>true_cfg_scale</c>. Above 1, the negative prompt (an empty one included, as diffusers
    /// counts "" as given) runs through the transformer too and the predictions combine as
    /// <c>negative + s·(prompt − negative)</c>: real classifier-free guidance on a guidance-distilled model, at twice the
    /// cost per step. Null (or ≤ 1) runs none, diffusers' default. Other families refuse it (their guidance is
    /// <see cref="GuidanceScale"/>).
    /// </summary>
    public float? TrueCfgScale { get; init; }

    /// <summary>
    /// SD3/FLUX.1: the T5 prompt length in tokens (diffusers' <c>max_sequence_length</c>); null for the family's default
    /// (256 for SD3, 512 for FLUX.1). Longer prompts are truncated (reported in <see cref="GenerationResult.PromptTruncated"/>).
    /// </summary>
    public int? MaxSequenceLength { get; init; }

    /// <summary>
    /// SD3's skip-layer guidance (diffusers' <c>skip_guidance_layers</c> and its scale, start and stop): one more
    /// transformer run per step in its window, on the conditional rows with those joint blocks skipped. Null (the default)
    /// runs none; <see cref="Pipelines.SkipLayerGuidance.Sd35Medium"/> is Stability AI's setting for SD3.5-medium. Needs
    /// <see cref="GuidanceScale"/> above 1 and a transformer built from safetensors; other families refuse it.
    /// </summary>
    public SkipLayerGuidance? SkipLayerGuidance { get; init; }

    /// <summary>
    /// Step caching: <see cref="DeepCache"/> for UNet models reuses the UNet's deep features for the steps between full
    /// runs. Null (the default) runs the whole model every step. Needs a UNet built from a checkpoint (or the demo model) and
    /// no ControlNets; SD3 and FLUX.1 refuse it.
    /// </summary>
    public StepCache? StepCache { get; init; }

    /// <summary>Checks every option and throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Prompt is null)
            throw new InvalidOptionException(nameof(Prompt), "must not be null (use an empty string for an unconditional image).");
        if (NegativePrompt is null)
            throw new InvalidOptionException(nameof(NegativePrompt), "must not be null (use an empty string for none).");
        if (GuidanceScale is float guidance && (!float.IsFinite(guidance) || guidance < 0 || guidance > MaxGuidanceScale))
            throw new InvalidOptionException(nameof(GuidanceScale), $"must be between 0 and {MaxGuidanceScale}, got {GuidanceScale}.");
        if (Steps < 1 || Steps > 1000)
            throw new InvalidOptionException(nameof(Steps), $"must be between 1 and 1000, got {Steps}.");
        ValidateSize(nameof(Width), Width);
        ValidateSize(nameof(Height), Height);
        if (ImagesPerPrompt < 1 || ImagesPerPrompt > 64)
            throw new InvalidOptionException(nameof(ImagesPerPrompt), $"must be between 1 and 64, got {ImagesPerPrompt}.");
        if (!Enum.IsDefined(RandomSource))
            throw new InvalidOptionException(nameof(RandomSource), $"unknown random source {RandomSource}.");
        if (ControlNets is null)
            throw new InvalidOptionException(nameof(ControlNets), "must not be null (use an empty list for none).");
        for (int i = 0; i < ControlNets.Count; i++)
            (ControlNets[i] ?? throw new InvalidOptionException($"{nameof(ControlNets)}[{i}]", "must not be null.")).Validate(i);
        if (!Enum.IsDefined(PromptSyntax))
            throw new InvalidOptionException(nameof(PromptSyntax), $"unknown prompt syntax {PromptSyntax}.");
        if (ClipSkip < 1)
            throw new InvalidOptionException(nameof(ClipSkip), $"must be 1 (the last layer) or more, got {ClipSkip}.");
        if (Strength is double strength && (!double.IsFinite(strength) || strength < 0 || strength > 1))
            throw new InvalidOptionException(nameof(Strength), $"must be between 0 and 1, got {strength}.");
        if (Strength is not null && InitImage is null && InitLatents is null)
            throw new InvalidOptionException(nameof(Strength), "applies only with an InitImage or InitLatents (image-to-image or inpainting).");
        if (Mask is not null)
        {
            if (InitImage is null)
                throw new InvalidOptionException(nameof(Mask), "needs an InitImage to inpaint.");
            if (Mask.Width != InitImage.Width || Mask.Height != InitImage.Height)
                throw new InvalidOptionException(nameof(Mask), $"is {Mask.Width}x{Mask.Height} but the InitImage is {InitImage.Width}x{InitImage.Height}; they must be the same size.");
        }
        ValidateSchedule();
        ValidateSizeConditioning(nameof(OriginalSize), OriginalSize);
        ValidateSizeConditioning(nameof(TargetSize), TargetSize);
        if (CropTop is < 0 or > 8192 || CropLeft is < 0 or > 8192)
            throw new InvalidOptionException(CropTop is < 0 or > 8192 ? nameof(CropTop) : nameof(CropLeft), "must be between 0 and 8192 pixels.");
        if (!float.IsFinite(AestheticScore) || !float.IsFinite(NegativeAestheticScore))
            throw new InvalidOptionException(float.IsFinite(AestheticScore) ? nameof(NegativeAestheticScore) : nameof(AestheticScore), "must be a finite number.");
        if (PreserveUnmaskedPixels && Mask is null)
            throw new InvalidOptionException(nameof(PreserveUnmaskedPixels), "applies only to inpainting (give a Mask).");
        if (MaskBlur < 0 || MaskBlur > 256)
            throw new InvalidOptionException(nameof(MaskBlur), $"must be between 0 and 256 pixels, got {MaskBlur}.");
        if (TrueCfgScale is float trueCfg && (!float.IsFinite(trueCfg) || trueCfg < 0 || trueCfg > MaxGuidanceScale))
            throw new InvalidOptionException(nameof(TrueCfgScale), $"must be between 0 and {MaxGuidanceScale}, got {trueCfg}.");
        if (MaxSequenceLength is int tokens && (tokens < 1 || tokens > T5Tokenizer.MaxSequenceLengthLimit))
            throw new InvalidOptionException(nameof(MaxSequenceLength), $"must be between 1 and {T5Tokenizer.MaxSequenceLengthLimit} tokens, got {tokens}.");
        SkipLayerGuidance?.Validate();
        StepCache?.Validate();
    }

    private void ValidateSchedule()
    {
        if (DenoisingEnd is double end && (!double.IsFinite(end) || end <= 0 || end >= 1))
            throw new InvalidOptionException(nameof(DenoisingEnd), $"must be between 0 and 1 (exclusive), got {end}.");
        if (DenoisingStart is double begin && (!double.IsFinite(begin) || begin <= 0 || begin >= 1))
            throw new InvalidOptionException(nameof(DenoisingStart), $"must be between 0 and 1 (exclusive), got {begin}.");
        if (DenoisingStart is double s && DenoisingEnd is double e && s >= e)
            throw new InvalidOptionException(nameof(DenoisingStart), $"({s}) must be below DenoisingEnd ({e}).");
        if (DenoisingStart is not null && InitImage is null && InitLatents is null)
            throw new InvalidOptionException(nameof(DenoisingStart), "needs InitLatents (a hand-off) or an InitImage to start from.");
        if (InitLatents is null)
            return;
        InitLatents.Validate(nameof(InitLatents));
        if (InitImage is not null)
            throw new InvalidOptionException(nameof(InitLatents), "and InitImage cannot both be given.");
        if (InitLatents.Batch != 1 && InitLatents.Batch != ImagesPerPrompt)
            throw new InvalidOptionException(nameof(InitLatents), $"has a batch of {InitLatents.Batch}; it must be 1 or ImagesPerPrompt ({ImagesPerPrompt}).");
        if (Width is int w && w != InitLatents.Width * 8 || Height is int h && h != InitLatents.Height * 8)
            throw new InvalidOptionException(nameof(InitLatents), $"are {InitLatents.Width * 8}x{InitLatents.Height * 8} pixels, but Width/Height ask for {Width}x{Height}; leave them unset.");
    }

    private static void ValidateSizeConditioning(string name, PixelSize? size)
    {
        if (size is PixelSize s && (s.Width is < 1 or > 16384 || s.Height is < 1 or > 16384))
            throw new InvalidOptionException(name, $"must be 1 to 16384 pixels each way, got {s.Width}x{s.Height}.");
    }

    private static void ValidateSize(string name, int? value)
    {
        if (value is null)
            return;
        if (value <= 0 || value % 8 != 0)
            throw new InvalidOptionException(name, $"must be a positive multiple of 8 (the VAE downsamples by 8), got {value}.");
        if (value > 8192)
            throw new InvalidOptionException(name, $"must be at most 8192 pixels, got {value}.");
    }
}
