using System.Diagnostics;
using System.Security.Cryptography;
using Diffusion.Core.Adapters;
using Diffusion.Core.Families;
using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Text-to-image for Stable Diffusion 1.x/2.x models in the diffusers ONNX layout. Mirrors
/// diffusers' <c>StableDiffusionPipeline.__call__</c>: prompt and negative prompt encoded separately,
/// initial latents = one N(0,1) draw of shape [n,4,h/8,w/8] times the scheduler's init sigma,
/// classifier-free guidance <c>uncond + g·(cond − uncond)</c> when g &gt; 1, latents divided by the VAE
/// scaling factor before decoding, images mapped with <c>round(clip(x/2+0.5, 0, 1)·255)</c>.
/// </summary>
/// <remarks>
/// Load one with <see cref="Load"/> from a model folder, or compose one from parts with the
/// constructor. The pipeline owns (and disposes) its models.
/// <para>
/// Thread safety: <see cref="Generate"/> may be called from any number of threads; calls on one pipeline run one at a
/// time, in turn (the models hold per-call buffers and one ONNX Runtime session each, whose threads every call uses
/// anyway), so each result is bit-identical to the same call made alone. A waiting call honours its cancellation token.
/// <see cref="Dispose"/> cancels the running call (it ends with <see cref="ObjectDisposedException"/>), refuses the
/// waiting ones the same way, waits for the running one to unwind, then releases the models; called from inside a
/// progress callback, it returns at once and the models are released when that call ends. The models exposed as
/// properties are not thread-safe on their own, and a scheduler instance must not be given to two pipelines that run
/// at the same time (see docs/reliability.md).
/// </para>
/// </remarks>
public sealed partial class StableDiffusionPipeline : IDiffusionPipeline
{
    private readonly ILogger? _logger;
    private readonly ClassifierFreeGuidanceMode _guidanceMode;
    private readonly PipelineAdapters _adapters;
    private readonly PipelineModels _models;
    private readonly LoraSessionSwitcher _loras;
    private readonly GenerationTurn _turn = new();
    private readonly XLConditioningSettings? _xl;

    /// <summary>Composes a pipeline from loaded parts; the pipeline takes ownership of the models.</summary>
    /// <param name="tokenizer">The CLIP tokenizer matching the text encoder.</param>
    /// <param name="textEncoder">The text encoder.</param>
    /// <param name="unet">The UNet.</param>
    /// <param name="vaeDecoder">The VAE decoder.</param>
    /// <param name="scheduler">The default scheduler (swap it with <see cref="Scheduler"/> or per call).</param>
    /// <param name="vaeScalingFactor">The VAE latent scaling factor (0.18215 for SD 1.x/2.x).</param>
    /// <param name="defaultImageSize">Width and height used when a call gives none.</param>
    /// <param name="settings">Guidance mode and logger; session settings are not used here (the models are already loaded).</param>
    /// <param name="vaeEncoder">The VAE encoder, for image-to-image and inpainting; null for text-to-image only.</param>
    /// <exception cref="ModelContractException">The text encoder's width differs from the UNet's text input.</exception>
    public StableDiffusionPipeline(
        ClipTokenizer tokenizer, TextEncoder textEncoder, UNet unet, VaeDecoder vaeDecoder, IScheduler scheduler,
        float vaeScalingFactor = 0.18215f, int defaultImageSize = 512, PipelineSettings? settings = null, VaeEncoder? vaeEncoder = null)
        : this(tokenizer, textEncoder, unet, vaeDecoder, scheduler, vaeScalingFactor, defaultImageSize, settings, vaeEncoder, null, null)
    {
    }

    internal StableDiffusionPipeline(
        ClipTokenizer tokenizer, TextEncoder textEncoder, UNet unet, VaeDecoder vaeDecoder, IScheduler scheduler,
        float vaeScalingFactor, int defaultImageSize, PipelineSettings? settings, VaeEncoder? vaeEncoder, string? vaeEncoderPath,
        PipelineAdapters? adapters)
        : this(NewModels(tokenizer, textEncoder, unet, vaeDecoder, scheduler, vaeEncoder, vaeEncoderPath, settings ??= new PipelineSettings()),
            ModelFamily.StableDiffusion, null, scheduler, vaeScalingFactor, defaultImageSize, settings, adapters)
    {
    }

    internal StableDiffusionPipeline(PipelineModels models, ModelFamily family, XLConditioningSettings? xl, IScheduler scheduler,
        float vaeScalingFactor, int defaultImageSize, PipelineSettings settings, PipelineAdapters? adapters)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        if (!(vaeScalingFactor > 0) || !float.IsFinite(vaeScalingFactor))
            throw new InvalidOptionException(nameof(vaeScalingFactor), $"must be a positive finite number, got {vaeScalingFactor}.");
        if (defaultImageSize <= 0 || defaultImageSize % 8 != 0)
            throw new InvalidOptionException(nameof(defaultImageSize), $"must be a positive multiple of 8, got {defaultImageSize}.");
        ComponentFit.Require(family, models, xl);
        Scheduler = scheduler;
        VaeScalingFactor = vaeScalingFactor;
        DefaultImageSize = defaultImageSize;
        Family = family;
        _xl = xl;
        _logger = settings.Logger;
        _guidanceMode = settings.GuidanceMode;
        _adapters = adapters ?? new PipelineAdapters(_logger);
        _models = models;
        _loras = new LoraSessionSwitcher(LoraSlots(settings), _adapters, settings, LoraTarget.Transformer);
    }

    /// <summary>The text encoders and the UNet, whose sessions follow a call's LoRA set.</summary>
    private List<LoraSessionSwitcher.Slot> LoraSlots(PipelineSettings settings)
    {
        var slots = new List<LoraSessionSwitcher.Slot>(3)
        {
            new(_adapters.TextEncoder, () => _models.TextEncoder.Source, settings.TextEncoderSettings,
                s => _models.TextEncoder = LoraSessionSwitcher.Replaced(_models.TextEncoder, () => TextEncoder.Load(_models.TextEncoder.Source, s))),
        };
        if (_models.TextEncoder2 is not null)
        {
            slots.Add(new(_adapters.TextEncoder2, () => _models.TextEncoder2!.Source, settings.TextEncoderSettings,
                s => _models.TextEncoder2 = LoraSessionSwitcher.Replaced(_models.TextEncoder2!, () => TextEncoder.Load(_models.TextEncoder2!.Source, s))));
        }
        slots.Add(new(_adapters.UNet, () => _models.UNet.Source, settings.UNetSettings,
            s => _models.UNet = LoraSessionSwitcher.Replaced(_models.UNet, () => UNet.Load(_models.UNet.Source, s))));
        return slots;
    }

    private static PipelineModels NewModels(ClipTokenizer tokenizer, TextEncoder textEncoder, UNet unet, VaeDecoder vaeDecoder,
        IScheduler scheduler, VaeEncoder? vaeEncoder, string? vaeEncoderPath, PipelineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(textEncoder);
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(vaeDecoder);
        ArgumentNullException.ThrowIfNull(scheduler);
        return new PipelineModels(tokenizer, textEncoder, unet, vaeDecoder, vaeEncoder, vaeEncoderPath is null ? null : ModelSource.FromFile(vaeEncoderPath), settings.VaeEncoderSettings, settings.MemoryMode);
    }

    /// <summary>The model family the pipeline runs (Stable Diffusion 1.x/2.x, XL, or the XL refiner).</summary>
    public ModelFamily Family { get; }

    /// <summary>
    /// What the models need in each memory mode, computed at load, and the mode this pipeline runs in (for
    /// <see cref="MemoryMode.Auto"/>, the one chosen and why); null for a pipeline assembled from loaded models.
    /// </summary>
    public MemoryPlan? MemoryPlan { get; internal init; }

    /// <summary>The first text encoder's tokenizer (<c>tokenizer/</c>; an SDXL refiner's only one, <c>tokenizer_2/</c>).</summary>
    public ClipTokenizer Tokenizer => _models.Tokenizer;

    /// <summary>
    /// The first text encoder (<c>text_encoder/</c>; an SDXL refiner's only one, <c>text_encoder_2/</c>), replaced by a new
    /// session when a call's LoRA set changes its weights.
    /// </summary>
    public TextEncoder TextEncoder => _models.TextEncoder;

    /// <summary>SDXL base: the second tokenizer (<c>tokenizer_2/</c>); else <see langword="null"/>.</summary>
    public ClipTokenizer? Tokenizer2 => _models.Tokenizer2;

    /// <summary>SDXL base: the second text encoder (<c>text_encoder_2/</c>, OpenCLIP bigG, with the pooled output); else <see langword="null"/>.</summary>
    public TextEncoder? TextEncoder2 => _models.TextEncoder2;

    /// <summary>The UNet (replaced by a new session when a call's LoRA set changes its weights).</summary>
    public UNet UNet => _models.UNet;

    /// <summary>The VAE decoder.</summary>
    public VaeDecoder VaeDecoder => _models.VaeDecoder;

    /// <summary>
    /// The VAE encoder (image-to-image, inpainting), or <see langword="null"/> until the first call that needs it: a
    /// pipeline loaded from a folder with <c>vae_encoder/model.onnx</c> creates its session on first use, so
    /// text-to-image never pays for it.
    /// </summary>
    public VaeEncoder? VaeEncoder => _models.VaeEncoder;

    /// <summary>The scheduler used when a call names none; replace it to change the sampler.</summary>
    public IScheduler Scheduler { get; set; }

    /// <summary>The VAE latent scaling factor.</summary>
    public float VaeScalingFactor { get; }

    /// <summary>Width and height used when a call gives none.</summary>
    public int DefaultImageSize { get; }

    /// <summary>What width and height must be multiples of when the folder's UNet config says (64 for SD); checked before any model runs.</summary>
    internal int? ImageSizeMultiple { get; init; }

    /// <summary>The folder's VAE config sets <c>force_upcast</c> (it overflows in float16): named when a float16 decoder fails.</summary>
    internal bool VaeForceUpcast { get; init; }

    /// <summary>
    /// Loads a diffusers ONNX Stable Diffusion folder (<c>model_index.json</c>, <c>tokenizer/</c>,
    /// <c>text_encoder/</c>, <c>unet/</c>, <c>vae_decoder/</c>, <c>scheduler/</c>). Execution providers
    /// are checked before any model is loaded; a missing or malformed file raises
    /// <see cref="ModelLoadException"/> naming it, a model with unexpected inputs or components that do not fit
    /// each other <see cref="ModelContractException"/>.
    /// </summary>
    public static StableDiffusionPipeline Load(string modelDirectory, PipelineSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        return StableDiffusionLoader.Load(modelDirectory, settings ?? new PipelineSettings());
    }

    /// <inheritdoc />
    /// <remarks>
    /// Text-to-image without <see cref="GenerationOptions.InitImage"/>; image-to-image with it; inpainting with it and a
    /// <see cref="GenerationOptions.Mask"/>. All three run the same denoising loop and differ only in how the latents
    /// start, what is blended after each step (4-channel inpainting) and what extra channels the UNet gets (9-channel
    /// inpainting UNets). NaN or infinite values raise <see cref="NumericalInstabilityException"/> naming the component.
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The pipeline was disposed before or during the call.</exception>
    public GenerationResult Generate(
        GenerationOptions options, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ObjectDisposedException.ThrowIf(_turn.IsDisposed, this);
        options.Validate();
        if (options.TrueCfgScale is not null)
            throw new InvalidOptionException(nameof(GenerationOptions.TrueCfgScale), $"is FLUX.1's; {Family.Name} runs classifier-free guidance with GuidanceScale.");
        if (options.SkipLayerGuidance is not null)
            throw new InvalidOptionException(nameof(GenerationOptions.SkipLayerGuidance), $"is SD3's (it skips transformer blocks); {Family.Name} has a UNet.");
        if (options.MaxSequenceLength is not null)
            throw new InvalidOptionException(nameof(GenerationOptions.MaxSequenceLength), $"sets T5's prompt length (SD3, FLUX.1); {Family.Name} has no T5 encoder.");
        if (options.StepCache is not (null or DeepCache))
            throw new InvalidOptionException(nameof(GenerationOptions.StepCache), $"{options.StepCache.GetType().Name} is not a cache for UNet models; {Family.Name} takes DeepCache.");
        if (options.StepCache is not null && options.ControlNets is { Count: > 0 })
            throw new InvalidOptionException(nameof(GenerationOptions.StepCache), "does not run with ControlNets: their residuals feed the layers a cached step skips.");
        cancellationToken.ThrowIfCancellationRequested();
        return _turn.Run(nameof(StableDiffusionPipeline), (token, runOptions) => GenerateCore(options, progress, runOptions, token), Release, cancellationToken);
    }

    private GenerationResult GenerateCore(GenerationOptions options, IProgress<GenerationProgress>? progress, RunOptions runOptions, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        // The family's default is settled here once, so every later stage reads one concrete value.
        if (options.GuidanceScale is null)
            options = options with { GuidanceScale = Family.DefaultGuidanceScale };
        (int width, int height) = GenerationShape.ResolveSize(UNet, DefaultImageSize, options);
        GenerationShape.RequireSizeMultiple(options, width, height, ImageSizeMultiple);
        int batch = options.ImagesPerPrompt;
        // LCM UNets embed the guidance scale instead (diffusers runs no classifier-free guidance with time_cond_proj_dim).
        bool guided = options.GuidanceScale > 1f && !UNet.TakesGuidanceEmbedding;
        int imagesPerCall = GenerationShape.ImagesPerCall(UNet, _guidanceMode, batch, guided);
        IScheduler scheduler = options.Scheduler ?? Scheduler;
        ulong seed = options.Seed ?? DrawSeed();
        IRandomSource random = RandomSource.Create(options.RandomSource, seed);

        // LoRA tags (with a LoRA folder) and textual-inversion tokens.
        long t0 = Stopwatch.GetTimestamp();
        string promptText = _adapters.ExpandTokens(_loras.Apply(options.Prompt));
        string negativeText = _adapters.ExpandTokens(options.NegativePrompt);
        long tokenizerTicks = Stopwatch.GetTimestamp() - t0;

        var call = new CallShape(width, height, batch, guided, imagesPerCall, scheduler, random, seed, start);
        Stages stages = Denoise(options, call, promptText, negativeText, runOptions, progress, cancellationToken);
        bool tiled = options.DecodeImages && MemoryPlanning.TilesVaeDecode(MemoryPlan, batch, width, height, _logger);
        (ImageBuffer[] images, long decoderTicks, long conversionTicks) = options.DecodeImages
            ? ImageDecoding.Decode(_models, VaeScalingFactor, VaeForceUpcast, stages.Latents, batch, width, height, options, stages.LatentStart, tiled, runOptions)
            : ([], 0, 0);
        GenerationResult result = BuildResult(options, call, stages, images, tokenizerTicks, decoderTicks, conversionTicks);
        return result.WithVaeDecodeTiledIf(tiled);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Cancels a running <see cref="Generate"/> call and waits for it to unwind before the models are released (from
    /// that call's own progress callback it returns at once and the call releases them as it ends); calls waiting for
    /// their turn end with <see cref="ObjectDisposedException"/>. Safe to call more than once and from any thread.
    /// </remarks>
    public void Dispose() => _turn.Dispose(Release);

    private void Release()
    {
        _models.Dispose();
        _adapters.Dispose(); // after the sessions that use the overrides
    }

    private static ulong DrawSeed() => (ulong)RandomNumberGenerator.GetInt32(int.MaxValue);
}
