using System.Diagnostics;
using System.Security.Cryptography;
using Diffusion.Core.Adapters;
using Diffusion.Core.Families;
using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Text-to-image for the flow-matching transformer families, Stable Diffusion 3/3.5 and FLUX.1 (schnell, dev), from a
/// diffusers folder whose components are ONNX exports or safetensors (the graphs are then built in C#). Mirrors diffusers'
/// <c>StableDiffusion3Pipeline.__call__</c> and <c>FluxPipeline.__call__</c>: the prompt encoded by the family's encoders,
/// one N(0,1) draw of [n,16,h/8,w/8] (packed into 2×2 patches for FLUX.1), FLUX.1's sigmas <c>linspace(1, 1/steps)</c>
/// shifted by mu from the image token count, the shared denoising loop (classifier-free guidance for SD3; FLUX.1-dev
/// embeds its guidance scale instead), then latents / scaling + shift into the VAE. Image-to-image
/// (<see cref="GenerationOptions.InitImage"/>, <see cref="GenerationOptions.Strength"/>) follows their Img2Img pipelines.
/// </summary>
/// <remarks>
/// Calls run one at a time per pipeline, as <see cref="StableDiffusionPipeline"/>'s do; <see cref="Dispose"/> cancels a
/// running call. FLUX.1 runs a negative prompt only with <see cref="GenerationOptions.TrueCfgScale"/> (diffusers'
/// true CFG); without it a negative prompt is refused rather than ignored. LoRAs in diffusers' keys
/// (<see cref="PipelineSettings.Loras"/>) are merged at load. Not yet here: inpainting, LoRA tags in prompts, ControlNet
/// and prompt weighting.
/// </remarks>
public sealed partial class FlowMatchingPipeline : IDiffusionPipeline
{
    private readonly ILogger? _logger;
    private readonly ClassifierFreeGuidanceMode _guidanceMode;
    private readonly FlowMatchingModels _models;
    private readonly PipelineAdapters _adapters;
    private readonly GenerationTurn _turn = new();
    private readonly LoraSessionSwitcher _loras;

    internal FlowMatchingPipeline(FlowMatchingModels models, ModelFamily family, IScheduler scheduler, float vaeScalingFactor, float vaeShiftFactor,
        int defaultImageSize, PipelineSettings settings, PipelineAdapters adapters)
    {
        _models = models;
        _adapters = adapters;
        Family = family;
        Scheduler = scheduler;
        VaeScalingFactor = vaeScalingFactor;
        VaeShiftFactor = vaeShiftFactor;
        DefaultImageSize = defaultImageSize;
        _logger = settings.Logger;
        _guidanceMode = settings.GuidanceMode;
        _loras = new LoraSessionSwitcher(LoraSlots(settings), _adapters, settings, LoraTarget.UNet);
    }

    /// <summary>
    /// The components whose sessions follow a call's LoRA set, as the loader merged them: CLIP(-L) for <c>text_encoder.</c>,
    /// the second encoder for <c>text_encoder_2.</c> (SD3's CLIP-G, FLUX.1's T5), the transformer.
    /// </summary>
    private List<LoraSessionSwitcher.Slot> LoraSlots(PipelineSettings settings)
    {
        TextEncoder Clip(int k) => _models.ClipEncoders[k].Encoder;
        LoraSessionSwitcher.Slot ClipSlot(PipelineAdapters.ComponentLoras component, int k) => new(component, () => Clip(k).Source, settings.TextEncoderSettings,
            s => _models.ReplaceClipEncoder(k, LoraSessionSwitcher.Replaced(Clip(k), () => TextEncoder.Load(Clip(k).Source, s))));
        var slots = new List<LoraSessionSwitcher.Slot>(3) { ClipSlot(_adapters.TextEncoder, 0) };
        if (Family == ModelFamily.Flux && _models.T5 is { } t5)
        {
            slots.Add(new(_adapters.TextEncoder2, () => _models.T5!.Value.Encoder.Source, settings.TextEncoderSettings,
                s => _models.T5 = (t5.Tokenizer, LoraSessionSwitcher.Replaced(_models.T5!.Value.Encoder, () => TextEncoder.Load(_models.T5!.Value.Encoder.Source, s)))));
        }
        else if (_models.ClipEncoders.Count > 1)
        {
            slots.Add(ClipSlot(_adapters.TextEncoder2, 1));
        }
        slots.Add(new(_adapters.Transformer, () => _models.Transformer.Source, settings.UNetSettings,
            s => _models.Transformer = LoraSessionSwitcher.Replaced(_models.Transformer, () => DiffusionTransformer.Load(_models.Transformer.Source, s))));
        return slots;
    }

    /// <summary>
    /// Loads a diffusers SD3/3.5 or FLUX.1 folder (<c>model_index.json</c>, <c>scheduler/</c>, <c>transformer/</c>,
    /// <c>vae/</c>, the text encoders and tokenizers), each model as <c>model.onnx</c> or as safetensors with its
    /// <c>config.json</c>. A missing or malformed file raises <see cref="ModelLoadException"/> naming it; components that do
    /// not fit each other <see cref="ModelContractException"/>; a setting that applies to UNet models only
    /// <see cref="InvalidOptionException"/>.
    /// </summary>
    public static FlowMatchingPipeline Load(string modelDirectory, PipelineSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        return FlowMatchingLoader.Load(modelDirectory, settings ?? new PipelineSettings());
    }

    /// <summary>The family the pipeline runs (<see cref="ModelFamily.StableDiffusion3"/> or <see cref="ModelFamily.Flux"/>).</summary>
    public ModelFamily Family { get; }

    /// <summary>
    /// What the models need in each memory mode, computed at load, and the mode this pipeline runs in (for
    /// <see cref="MemoryMode.Auto"/>, the one chosen and why); null for a pipeline assembled from loaded models.
    /// </summary>
    public MemoryPlan? MemoryPlan { get; internal init; }

    /// <summary>The transformer.</summary>
    public DiffusionTransformer Transformer => _models.Transformer;

    /// <summary>The VAE decoder.</summary>
    public VaeDecoder VaeDecoder => _models.VaeDecoder;

    /// <summary>The scheduler used when a call names none (a flow-matching one); replace it to change the sampler.</summary>
    public IScheduler Scheduler { get; set; }

    /// <summary>The VAE's <c>scaling_factor</c> (SD3 1.5305, FLUX.1 0.3611).</summary>
    public float VaeScalingFactor { get; }

    /// <summary>The VAE's <c>shift_factor</c> (SD3 0.0609, FLUX.1 0.1159).</summary>
    public float VaeShiftFactor { get; }

    /// <summary>Width and height used when a call gives none (1024 for the published models).</summary>
    public int DefaultImageSize { get; }

    /// <inheritdoc />
    /// <remarks>
    /// Text-to-image, or image-to-image with <see cref="GenerationOptions.InitImage"/> (diffusers' SD3/FLUX.1 Img2Img
    /// pipelines: strength 0.6 by default; without Width/Height the image is resized to the default size, as there).
    /// <see cref="GenerationOptions.GuidanceScale"/> is SD3's classifier-free guidance scale (default 7) or
    /// FLUX.1-dev's embedded guidance (default 3.5); FLUX.1-schnell has none. <see cref="GenerationOptions.MaxSequenceLength"/>
    /// sets T5's prompt length. NaN or infinite values raise <see cref="NumericalInstabilityException"/> naming the component.
    /// </remarks>
    /// <exception cref="InvalidOptionException">An option this family does not take (named), or a size that is not a multiple of 16.</exception>
    /// <exception cref="ObjectDisposedException">The pipeline was disposed before or during the call.</exception>
    public GenerationResult Generate(GenerationOptions options, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ObjectDisposedException.ThrowIf(_turn.IsDisposed, this);
        options.Validate();
        RequireSupported(options);
        cancellationToken.ThrowIfCancellationRequested();
        return _turn.Run(nameof(FlowMatchingPipeline), (token, runOptions) => GenerateCore(options, progress, runOptions, token), Release, cancellationToken);
    }

    private GenerationResult GenerateCore(GenerationOptions options, IProgress<GenerationProgress>? progress, RunOptions runOptions, CancellationToken cancellationToken)
    {
        long startTimestamp = Stopwatch.GetTimestamp();
        int width = options.Width ?? DefaultImageSize, height = options.Height ?? DefaultImageSize;
        RequireSizeMultiple(options, width, height);
        int batch = options.ImagesPerPrompt;
        float guidanceScale = options.GuidanceScale ?? Family.DefaultGuidanceScale;
        // SD3: classifier-free guidance with GuidanceScale; FLUX.1: only true CFG (TrueCfgScale), GuidanceScale is embedded.
        float cfgScale = Family == ModelFamily.Flux ? options.TrueCfgScale ?? 1f : guidanceScale;
        bool guided = cfgScale > 1f;
        float? embeddedGuidance = Transformer.TakesGuidance ? guidanceScale : null;
        IScheduler scheduler = options.Scheduler ?? Scheduler;
        ulong seed = options.Seed ?? (ulong)RandomNumberGenerator.GetInt32(int.MaxValue);
        IRandomSource random = RandomSource.Create(options.RandomSource, seed);
        int channels = _models.VaeDecoder.LatentChannels, latentHeight = height / 8, latentWidth = width / 8;

        string prompt = _loras.Apply(options.Prompt);
        var conditioning = TransformerPromptConditioning.Encode(_models, Family, prompt, options.NegativePrompt, batch, guided,
            options.MaxSequenceLength ?? Family.DefaultMaxSequenceLength, options.ClipSkip, runOptions);
        long s0 = Stopwatch.GetTimestamp();
        SetTimesteps(scheduler, options.Steps, latentHeight, latentWidth);
        LatentStart start = StartLatents(options, scheduler, random, channels, latentHeight, latentWidth, runOptions);
        long setupTicks = Stopwatch.GetTimestamp() - s0 - start.EncoderTicks;
        float[] latents = start.Latents;

        var denoiser = new TransformerDenoiser(Transformer, conditioning, channels, latentHeight, latentWidth, embeddedGuidance);
        var loop = new DenoisingLoop
        {
            AfterStep = start.AfterStep,
            GuidanceTerm = options.SkipLayerGuidance is { } slg && guided
                ? new SkipLayerGuidanceTerm(slg, denoiser, Transformer, batch, latents.Length / batch)
                : null,
        };
        int modelBatch = guided ? 2 * batch : batch;
        int rowsPerCall = _guidanceMode == ClassifierFreeGuidanceMode.Separate && guided ? batch : modelBatch;
        loop.Run(denoiser, latents, batch, guided ? cfgScale : 1f, rowsPerCall, scheduler, start.StartIndex, random, runOptions,
            progress, startTimestamp, cancellationToken);
        _models.ReleaseIfSequential(Transformer);
        cancellationToken.ThrowIfCancellationRequested();

        float[] result = latents;
        if (Transformer.TakesPackedLatents)
        {
            result = new float[latents.Length];
            FluxLatents.Unpack(latents, batch, channels, latentHeight, latentWidth, result);
        }
        bool tiled = options.DecodeImages && MemoryPlanning.TilesVaeDecode(MemoryPlan, batch, width, height, _logger);
        (ImageBuffer[] images, long decoderTicks, long conversionTicks) = options.DecodeImages
            ? Decode(result, batch, width, height, options.PreserveUnmaskedPixels ? start : null, options.MaskBlur, tiled, runOptions)
            : ([], 0, 0);
        var timings = new GenerationTimings
        {
            TextEncoder = Stopwatch.GetElapsedTime(0, conditioning.EncoderTicks),
            VaeEncoder = Stopwatch.GetElapsedTime(0, start.EncoderTicks),
            UNet = Stopwatch.GetElapsedTime(0, loop.DenoiserTicks),
            Scheduler = Stopwatch.GetElapsedTime(0, loop.SchedulerTicks + setupTicks),
            VaeDecoder = Stopwatch.GetElapsedTime(0, decoderTicks),
            ImageConversion = Stopwatch.GetElapsedTime(0, conversionTicks),
            Total = Stopwatch.GetElapsedTime(startTimestamp),
        };
        if (_logger is not null)
            PipelineLog.Generated(_logger, batch, width, height, options.Steps, seed, timings);
        return new GenerationResult(images, result, [batch, channels, latentHeight, latentWidth], seed, conditioning.Truncated,
            guided && conditioning.NegativeTruncated, timings)
        {
            DenoisingSteps = scheduler.Timesteps.Length - start.StartIndex,
            LoraReports = _adapters.Reports,
        }.WithVaeDecodeTiledIf(tiled);
    }

    /// <inheritdoc />
    /// <remarks>Cancels a running <see cref="Generate"/> call and waits for it to unwind before the models are released.</remarks>
    public void Dispose() => _turn.Dispose(Release);

    private void Release()
    {
        _models.Dispose();
        _adapters.Dispose(); // after the sessions that use the overrides
    }
}
