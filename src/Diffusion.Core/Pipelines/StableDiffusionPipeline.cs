using System.Diagnostics;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using Diffusion.Core.Adapters;
using Diffusion.Core.Execution;
using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Diffusion.Core.Weights;
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
public sealed class StableDiffusionPipeline : IDiffusionPipeline
{
    private readonly ILogger? _logger;
    private readonly ClassifierFreeGuidanceMode _guidanceMode;
    private readonly PipelineSettings _settings;
    private readonly PipelineAdapters _adapters;
    private readonly string? _vaeEncoderPath;
    private readonly SessionSettings _vaeEncoderSettings;
    private VaeEncoder? _vaeEncoder;

    // One call at a time (see the class remarks); Dispose cancels through _disposing and waits for the turn.
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly CancellationTokenSource _disposing = new();
    private readonly object _lifetime = new();
    private int _runningThreadId;
    private bool _disposed;
    private bool _releaseWhenIdle;

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
    public StableDiffusionPipeline(
        ClipTokenizer tokenizer, TextEncoder textEncoder, UNet unet, VaeDecoder vaeDecoder, IScheduler scheduler,
        float vaeScalingFactor = 0.18215f, int defaultImageSize = 512, PipelineSettings? settings = null, VaeEncoder? vaeEncoder = null)
        : this(tokenizer, textEncoder, unet, vaeDecoder, scheduler, vaeScalingFactor, defaultImageSize, settings, vaeEncoder, null, null)
    {
    }

    private StableDiffusionPipeline(
        ClipTokenizer tokenizer, TextEncoder textEncoder, UNet unet, VaeDecoder vaeDecoder, IScheduler scheduler,
        float vaeScalingFactor, int defaultImageSize, PipelineSettings? settings, VaeEncoder? vaeEncoder, string? vaeEncoderPath,
        PipelineAdapters? adapters)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(textEncoder);
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(vaeDecoder);
        ArgumentNullException.ThrowIfNull(scheduler);
        if (!(vaeScalingFactor > 0) || !float.IsFinite(vaeScalingFactor))
            throw new InvalidOptionException(nameof(vaeScalingFactor), $"must be a positive finite number, got {vaeScalingFactor}.");
        if (defaultImageSize <= 0 || defaultImageSize % 8 != 0)
            throw new InvalidOptionException(nameof(defaultImageSize), $"must be a positive multiple of 8, got {defaultImageSize}.");
        // Components that do not fit each other are refused here, naming both files, not mid-generation by the UNet.
        if (textEncoder.HiddenSize is int textWidth && unet.TextEmbeddingWidth is int unetWidth && textWidth != unetWidth)
        {
            throw new ModelContractException(unet.ModelPath, unet.EncoderHiddenStatesInput.Name,
                $"the UNet takes text embeddings {unetWidth} wide, but the text encoder ({textEncoder.ModelPath}) gives {textWidth}: they come from different models.");
        }
        Tokenizer = tokenizer;
        TextEncoder = textEncoder;
        UNet = unet;
        VaeDecoder = vaeDecoder;
        Scheduler = scheduler;
        VaeScalingFactor = vaeScalingFactor;
        DefaultImageSize = defaultImageSize;
        _logger = settings?.Logger;
        _guidanceMode = settings?.GuidanceMode ?? ClassifierFreeGuidanceMode.Auto;
        _vaeEncoder = vaeEncoder;
        _vaeEncoderPath = vaeEncoderPath;
        _settings = settings ?? new PipelineSettings();
        _vaeEncoderSettings = _settings.VaeEncoderSettings;
        _adapters = adapters ?? new PipelineAdapters(_logger);
    }

    /// <summary>The tokenizer.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>The text encoder.</summary>
    public TextEncoder TextEncoder { get; private set; }

    /// <summary>The UNet.</summary>
    public UNet UNet { get; private set; }

    /// <summary>The VAE decoder.</summary>
    public VaeDecoder VaeDecoder { get; }

    /// <summary>
    /// The VAE encoder (image-to-image, inpainting), or <see langword="null"/> until the first call that needs it: a
    /// pipeline loaded from a folder with <c>vae_encoder/model.onnx</c> creates its session on first use, so
    /// text-to-image never pays for it.
    /// </summary>
    public VaeEncoder? VaeEncoder => _vaeEncoder;

    /// <summary>The scheduler used when a call names none; replace it to change the sampler.</summary>
    public IScheduler Scheduler { get; set; }

    /// <summary>The VAE latent scaling factor.</summary>
    public float VaeScalingFactor { get; }

    /// <summary>Width and height used when a call gives none.</summary>
    public int DefaultImageSize { get; }

    /// <summary>
    /// Loads a diffusers ONNX Stable Diffusion folder (<c>model_index.json</c>, <c>tokenizer/</c>,
    /// <c>text_encoder/</c>, <c>unet/</c>, <c>vae_decoder/</c>, <c>scheduler/</c>). Execution providers
    /// are checked before any model is loaded; a missing or malformed file raises
    /// <see cref="ModelLoadException"/> naming it, a model with unexpected inputs
    /// <see cref="ModelContractException"/>.
    /// </summary>
    public static StableDiffusionPipeline Load(string modelDirectory, PipelineSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        settings ??= new PipelineSettings();
        // Fail fast on a provider whose native library is absent, before reading gigabytes of weights.
        SessionFactory.EnsureAvailable(settings.TextEncoderSettings.Provider);
        SessionFactory.EnsureAvailable(settings.UNetSettings.Provider);
        SessionFactory.EnsureAvailable(settings.VaeDecoderSettings.Provider);

        var folder = StableDiffusionModelFolder.Open(modelDirectory);
        var schedulerConfig = SchedulerConfig.FromJsonFile(folder.SchedulerConfigPath, settings.Logger);
        IScheduler scheduler = SchedulerCatalog.CreateFromConfig(schedulerConfig);
        var tokenizer = ClipTokenizer.FromDirectory(folder.TokenizerDirectory);
        TokenEmbeddingTable.RequireFits(tokenizer, folder.TokenizerDirectory, folder.TextEncoderPath);

        TextEncoder? textEncoder = null;
        UNet? unet = null;
        VaeDecoder? vaeDecoder = null;
        var adapters = new PipelineAdapters(settings.Logger);
        try
        {
            long start = Stopwatch.GetTimestamp();
            adapters.AddTextualInversions(settings.TextualInversions, folder.TextEncoderPath, tokenizer);
            SetLoras(adapters, adapters.TextEncoder, folder.TextEncoderPath, settings.Loras);
            string unetPath = settings.UNetModelPath ?? folder.UNetPath;
            SetLoras(adapters, adapters.UNet, unetPath, settings.Loras);
            // In Sequential mode each model is released as soon as its contract is read (and a bad model rejected),
            // so loading never holds more than one model's weights either.
            bool sequential = settings.MemoryMode == MemoryMode.Sequential;
            textEncoder = TextEncoder.Load(folder.TextEncoderPath, adapters.SettingsFor(adapters.TextEncoder, settings.TextEncoderSettings));
            if (sequential)
                textEncoder.Unload();
            unet = UNet.Load(unetPath, adapters.SettingsFor(adapters.UNet, settings.UNetSettings));
            if (sequential)
                unet.Unload();
            vaeDecoder = VaeDecoder.Load(folder.VaeDecoderPath, settings.VaeDecoderSettings);
            if (sequential)
                vaeDecoder.Unload();
            if (settings.Logger is { } logger)
            {
                double milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                PipelineLog.Loaded(logger, folder.Directory, milliseconds, scheduler.GetType().Name);
            }
            return new StableDiffusionPipeline(tokenizer, textEncoder, unet, vaeDecoder, scheduler,
                folder.VaeScalingFactor, folder.DefaultImageSize, settings, null, folder.VaeEncoderPath, adapters);
        }
        catch
        {
            vaeDecoder?.Dispose();
            unet?.Dispose();
            textEncoder?.Dispose();
            adapters.Dispose();
            throw;
        }
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
        ObjectDisposedException.ThrowIf(_disposed, this);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        try
        {
            EnterTurn(linked.Token);
        }
        catch (OperationCanceledException) when (_disposing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(StableDiffusionPipeline), "The pipeline was disposed while this call waited for its turn.");
        }

        try
        {
            return GenerateCore(options, progress, linked.Token);
        }
        catch (OperationCanceledException) when (_disposing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(StableDiffusionPipeline), "The pipeline was disposed during this call, which was cancelled.");
        }
        finally
        {
            ExitTurn();
        }
    }

    private void EnterTurn(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _runningThreadId) == Environment.CurrentManagedThreadId)
            throw new InvalidOperationException("Generate was called from inside a progress callback of a call on the same pipeline; calls on one pipeline run one at a time.");
        _turn.Wait(cancellationToken);
        lock (_lifetime)
        {
            if (_disposed)
            {
                _turn.Release();
                throw new ObjectDisposedException(nameof(StableDiffusionPipeline));
            }
            _runningThreadId = Environment.CurrentManagedThreadId;
        }
    }

    private void ExitTurn()
    {
        bool release;
        lock (_lifetime)
        {
            _runningThreadId = 0;
            release = _releaseWhenIdle;
        }
        if (release)
            ReleaseModels(); // Dispose was called from this call's progress callback
        _turn.Release();
    }

    private GenerationResult GenerateCore(GenerationOptions options, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        ImageBuffer? initImage = options.InitImage;
        bool inpainting = options.Mask is not null;
        (int width, int height) = initImage is null || inpainting
            ? (options.Width ?? DefaultImageSize, options.Height ?? DefaultImageSize) // diffusers' inpaint pipeline defaults to the UNet's size
            : InpaintingMask.ResolveSize(initImage, options.Width, options.Height);
        if (UNet.InChannels == 9 && !inpainting)
            throw new InvalidOptionException(nameof(GenerationOptions.Mask),
                $"the UNet ({UNet.ModelPath}) takes 9 input channels: it is an inpainting model and needs an InitImage and a Mask.");
        if (inpainting && UNet.InChannels is not (4 or 9))
            throw new ModelContractException(UNet.ModelPath, UNet.SampleInput.Name,
                $"inpainting needs a UNet with 4 or 9 input channels, this one takes {UNet.InChannels}.");
        int latentWidth = width / 8, latentHeight = height / 8;
        int batch = options.ImagesPerPrompt;
        bool guided = options.GuidanceScale > 1f;
        int imagesPerCall = ChooseImagesPerCall(batch, guided);
        IScheduler scheduler = options.Scheduler ?? Scheduler;
        ulong seed = options.Seed ?? DrawSeed();
        IRandomSource random = RandomSource.Create(options.RandomSource, seed);

        // LoRA tags (with a LoRA folder) and textual-inversion tokens.
        long t0 = Stopwatch.GetTimestamp();
        string promptText = _adapters.ExpandTokens(ApplyLoras(options.Prompt));
        string negativeText = _adapters.ExpandTokens(options.NegativePrompt);
        long tokenizerTicks = Stopwatch.GetTimestamp() - t0;

        using var runOptions = new RunOptions();
        using CancellationTokenRegistration registration = cancellationToken.Register(
            static state => ((RunOptions)state!).Terminate = true, runOptions);
        try
        {
            // Encode text (PromptEmbedder: Plain = diffusers' one 77-token window, Weighted = A1111 chunks and
            // weights, prompt and negative padded to one length): [uncond × n | cond × n] with guidance, else [cond × n].
            long e0 = Stopwatch.GetTimestamp();
            var embedder = new PromptEmbedder(Tokenizer, TextEncoder) { ClipSkip = options.ClipSkip };
            PromptEmbeddings conditional, unconditional;
            if (guided)
            {
                (conditional, unconditional) = embedder.EncodePair(promptText, negativeText, options.PromptSyntax, runOptions);
            }
            else
            {
                conditional = embedder.Encode(promptText, options.PromptSyntax, 1, runOptions);
                unconditional = conditional;
            }
            long textEncoderTicks = Stopwatch.GetTimestamp() - e0;
            ReleaseIfSequential(TextEncoder);
            if (_logger is not null && conditional.Truncated)
                PipelineLog.PromptTruncated(_logger, "Prompt", conditional.DroppedTokenCount, Tokenizer.MaxLength);
            if (_logger is not null && guided && unconditional.Truncated)
                PipelineLog.PromptTruncated(_logger, "Negative prompt", unconditional.DroppedTokenCount, Tokenizer.MaxLength);
            int sequenceLength = conditional.SequenceLength;
            int perPrompt = sequenceLength * conditional.HiddenSize;
            int embeddingCount = guided ? 2 * batch : batch;
            float[] embeddings = new float[embeddingCount * perPrompt];
            int conditionalStart = guided ? batch * perPrompt : 0;
            for (int i = 0; i < batch; i++)
            {
                conditional.Values.AsSpan(0, perPrompt).CopyTo(embeddings.AsSpan(conditionalStart + i * perPrompt));
                if (guided)
                    unconditional.Values.AsSpan(0, perPrompt).CopyTo(embeddings.AsSpan(i * perPrompt));
            }

            // Initial latents (the random draws in diffusers' order, so seeds reproduce its pipelines).
            long s0 = Stopwatch.GetTimestamp();
            SetTimesteps(scheduler, options.Steps);
            double strength = options.Strength ?? (inpainting ? 1.0 : 0.8);
            int startIndex = initImage is null ? 0 : StartIndex(options.Steps, strength, scheduler);
            float[] latents = new float[batch * 4 * latentHeight * latentWidth];
            var latentStart = new LatentStart(latents, batch, startIndex, random, runOptions);
            ImageBuffer? fittedImage = null;
            float[]? pixelMask = null;
            long imagePreparationTicks = 0;
            DenoisingLoop loop;
            if (initImage is null)
            {
                random.NextStandardNormal(latents);
                TensorPrimitives.Multiply(latents, scheduler.InitNoiseSigma, latents);
                loop = new DenoisingLoop(UNet);
            }
            else
            {
                long f0 = Stopwatch.GetTimestamp();
                fittedImage = InpaintingMask.Fit(initImage, width, height);
                pixelMask = inpainting ? InpaintingMask.Binarize(InpaintingMask.Fit(options.Mask!, width, height)) : null;
                imagePreparationTicks = Stopwatch.GetTimestamp() - f0;
                loop = pixelMask is null
                    ? StartFromImage(latentStart, fittedImage, scheduler)
                    : StartInpainting(latentStart, fittedImage, pixelMask, strength == 1.0, scheduler);
            }
            long setupSchedulerTicks = Stopwatch.GetTimestamp() - s0 - latentStart.EncoderTicks - imagePreparationTicks;
            if (_vaeEncoder is not null)
                ReleaseIfSequential(_vaeEncoder);

            loop.ControlNet = ControlNetConditioner.Create(UNet, options.ControlNets, width, height, imagesPerCall);
            try
            {
                loop.Run(latents, batch, latentHeight, latentWidth, embeddings, sequenceLength, options.GuidanceScale,
                    imagesPerCall, scheduler, startIndex, random, runOptions, progress, start, cancellationToken);
            }
            catch (DiffusionException error) when (error.InnerException is OnnxRuntimeException && (latentWidth % 8 != 0 || latentHeight % 8 != 0))
            {
                throw SizeNotSupported(options, width, height, error);
            }
            ReleaseIfSequential(UNet);
            cancellationToken.ThrowIfCancellationRequested();

            // Decode: latents / scaling factor → VAE → [-1, 1] images → RGB bytes.
            float[] decoderInput = new float[latents.Length];
            TensorPrimitives.Divide(latents, VaeScalingFactor, decoderInput);
            float[] decoded = new float[batch * 3 * height * width];
            long d0 = Stopwatch.GetTimestamp();
            VaeDecoder.Decode(decoderInput, batch, latentHeight, latentWidth, decoded, runOptions);
            ReleaseIfSequential(VaeDecoder);
            long d1 = Stopwatch.GetTimestamp();
            DenoisingLoop.RequireFinite(decoded, "VAE decoder", VaeDecoder.ModelPath, null);
            ImageBuffer[] images = ImageTensorConverter.FromTensor(decoded, batch, height, width);
            if (options.PreserveUnmaskedPixels)
            {
                float[] alpha = InpaintingMask.Feather(pixelMask!, width, height, options.MaskBlur);
                foreach (ImageBuffer image in images)
                    InpaintingMask.PasteOriginal(image, fittedImage!, alpha);
            }
            long d2 = Stopwatch.GetTimestamp();

            var timings = new GenerationTimings
            {
                Tokenizer = Stopwatch.GetElapsedTime(0, tokenizerTicks),
                TextEncoder = Stopwatch.GetElapsedTime(0, textEncoderTicks),
                UNet = Stopwatch.GetElapsedTime(0, loop.UNetTicks),
                Scheduler = Stopwatch.GetElapsedTime(0, loop.SchedulerTicks + setupSchedulerTicks),
                VaeEncoder = Stopwatch.GetElapsedTime(0, latentStart.EncoderTicks),
                VaeDecoder = Stopwatch.GetElapsedTime(d0, d1),
                ImageConversion = Stopwatch.GetElapsedTime(0, d2 - d1 + imagePreparationTicks),
                Total = Stopwatch.GetElapsedTime(start),
            };
            if (_logger is not null)
                PipelineLog.Generated(_logger, batch, width, height, options.Steps, seed, timings);
            return new GenerationResult(images, latents, [batch, 4, latentHeight, latentWidth], seed,
                conditional.Truncated, guided && unconditional.Truncated, timings)
            {
                DenoisingSteps = scheduler.Timesteps.Length - startIndex,
                LoraReports = _adapters.Reports,
            };
        }
        catch (OnnxRuntimeException ex) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The generation was cancelled while a model was running.", ex, cancellationToken);
        }
    }

    /// <summary>
    /// The UNet failed at a size whose latent is not a multiple of 8: Stable Diffusion UNets down- and up-sample three
    /// times, and exported graphs join the two paths with fixed factors, so ONNX Runtime fails in a Concat. Reported
    /// as the size option (or the init image the size came from), with ONNX Runtime's words kept as the inner error.
    /// </summary>
    private static InvalidOptionException SizeNotSupported(GenerationOptions options, int width, int height, DiffusionException error)
    {
        string option = options.Width is null && options.Height is null && options.InitImage is not null
            ? nameof(GenerationOptions.InitImage)
            : width / 8 % 8 != 0 && options.Width is not null ? nameof(GenerationOptions.Width) : nameof(GenerationOptions.Height);
        string source = option == nameof(GenerationOptions.InitImage)
            ? $"the size {width}x{height} taken from the image ({options.InitImage!.Width}x{options.InitImage.Height})"
            : $"{width}x{height}";
        return new InvalidOptionException(option,
            $"the UNet cannot run at {source}: its latent ({width / 8}x{height / 8}) must be divisible by its down-sampling factor, "
            + "8 for Stable Diffusion UNets, so width and height must be multiples of 64 pixels (give Width/Height, e.g. 512 or 576).", error);
    }

    /// <summary>The scheduler's step-count errors are about <see cref="GenerationOptions.Steps"/>: they are reported under that name.</summary>
    private static void SetTimesteps(IScheduler scheduler, int steps)
    {
        try
        {
            scheduler.SetTimesteps(steps);
        }
        catch (InvalidOptionException error) when (error.OptionName == "InferenceSteps")
        {
            throw new InvalidOptionException(nameof(GenerationOptions.Steps), error.Message.Replace("InferenceSteps: ", "", StringComparison.Ordinal), error);
        }
    }

    /// <summary>
    /// diffusers' <c>get_timesteps</c>: <c>init_timestep = min(int(steps·strength), steps)</c>,
    /// <c>t_start = max(steps − init_timestep, 0)</c>; the loop starts at index <c>t_start·order</c>. Computed in double,
    /// as Python does, so e.g. 0.7 × 10 gives 7 steps.
    /// </summary>
    internal static int StartIndex(int steps, double strength, IScheduler scheduler)
    {
        int initTimestep = Math.Min((int)(steps * strength), steps);
        int tStart = Math.Max(steps - initTimestep, 0);
        return Math.Min(tStart * scheduler.Order, scheduler.Timesteps.Length);
    }

    /// <summary>
    /// Image-to-image (diffusers' <c>StableDiffusionImg2ImgPipeline.prepare_latents</c>): encode the image (sampling
    /// the latent distribution first), scale, repeat over the batch, then draw the noise and noise the latents to the
    /// start step. With no step left (strength 0, or steps·strength &lt; 1) the latents are the image's: the VAE round trip.
    /// </summary>
    private DenoisingLoop StartFromImage(LatentStart start, ImageBuffer image, IScheduler scheduler)
    {
        float[] imageLatents = EncodeImage(start, image, null);
        if (start.StartIndex < scheduler.Timesteps.Length)
        {
            float[] noise = new float[start.Latents.Length];
            start.Random.NextStandardNormal(noise);
            scheduler.AddNoise(imageLatents, noise, start.StartIndex, start.Latents);
        }
        else
        {
            imageLatents.CopyTo(start.Latents, 0);
        }
        return new DenoisingLoop(UNet);
    }

    /// <summary>
    /// Inpainting (diffusers' <c>StableDiffusionInpaintPipeline</c>): image latents (when a 4-channel UNet needs them
    /// or strength &lt; 1), then the noise; at strength 1 the latents are pure noise × init sigma (<c>is_strength_max</c>),
    /// else the image noised to the start step. Then the masked image is encoded for a 9-channel UNet (its extra
    /// input); a 4-channel UNet instead gets the known region re-noised and blended back after every step.
    /// </summary>
    private DenoisingLoop StartInpainting(LatentStart start, ImageBuffer image, float[] pixelMask, bool strengthMax, IScheduler scheduler)
    {
        int total = scheduler.Timesteps.Length;
        bool fourChannel = UNet.InChannels == 4;
        bool steps = start.StartIndex < total;
        float[] imageTensor = new float[3 * image.Width * image.Height];
        ImageTensorConverter.ToTensor(image, imageTensor);
        float[]? imageLatents = fourChannel || !strengthMax || !steps ? EncodeImage(start, image, imageTensor) : null;
        float[] noise = new float[start.Latents.Length];
        if (steps)
        {
            start.Random.NextStandardNormal(noise);
            if (strengthMax)
                TensorPrimitives.Multiply(noise, scheduler.InitNoiseSigma, start.Latents);
            else
                scheduler.AddNoise(imageLatents!, noise, start.StartIndex, start.Latents);
        }
        else
        {
            imageLatents!.CopyTo(start.Latents, 0);
        }

        float[] latentMask = InpaintingMask.ToLatentResolution(pixelMask, image.Width, image.Height);
        int plane = latentMask.Length;
        InpaintingMask.ClearMasked(imageTensor, pixelMask);
        if (!fourChannel)
        {
            // UNet input per image: [latents (4) | mask (1) | masked-image latents (4)].
            float[] extra = new float[5 * plane];
            latentMask.CopyTo(extra, 0);
            EncodeSingle(start, imageTensor, image.Width, image.Height, extra.AsSpan(plane));
            return new DenoisingLoop(UNet) { ExtraChannels = extra };
        }

        // diffusers encodes the masked image for 4-channel UNets too (and ignores it): a sampling encoder draws its
        // noise then, so the same draw is made here to keep stochastic schedulers on the same random stream.
        if (RequireVaeEncoder().OutputsDistributionParameters)
            start.Random.NextStandardNormal(new float[4 * plane]);
        float[] known = new float[start.Latents.Length];
        return new DenoisingLoop(UNet)
        {
            AfterStep = (i, latents) =>
            {
                // init_latents_proper = add_noise(image_latents, noise, timesteps[i + 1]) (the clean latents after the
                // last step); latents = (1 − mask)·proper + mask·latents, mask 0/1 at latent resolution.
                if (i + 1 < total)
                    scheduler.AddNoise(imageLatents!, noise, i + 1, known);
                else
                    imageLatents!.CopyTo(known, 0);
                Span<float> values = latents.Span;
                for (int offset = 0; offset < values.Length; offset += plane)
                {
                    Span<float> channel = values.Slice(offset, plane);
                    ReadOnlySpan<float> original = known.AsSpan(offset, plane);
                    for (int p = 0; p < plane; p++)
                    {
                        if (latentMask[p] < 0.5f)
                            channel[p] = original[p];
                    }
                }
            },
        };
    }

    /// <summary>Encodes one image (sampled with the generation's random source when the encoder outputs a distribution), scales it and repeats it over the batch.</summary>
    private float[] EncodeImage(LatentStart start, ImageBuffer image, float[]? imageTensor)
    {
        if (imageTensor is null)
        {
            imageTensor = new float[3 * image.Width * image.Height];
            ImageTensorConverter.ToTensor(image, imageTensor);
        }
        float[] latents = new float[start.Latents.Length];
        int perImage = latents.Length / start.Batch;
        EncodeSingle(start, imageTensor, image.Width, image.Height, latents.AsSpan(0, perImage));
        for (int i = 1; i < start.Batch; i++)
            latents.AsSpan(0, perImage).CopyTo(latents.AsSpan(i * perImage));
        return latents;
    }

    /// <summary>VAE-encodes one [3,H,W] tensor into <paramref name="destination"/> ([4,H/8,W/8]) × the scaling factor.</summary>
    private void EncodeSingle(LatentStart start, float[] imageTensor, int width, int height, Span<float> destination)
    {
        VaeEncoder encoder = RequireVaeEncoder();
        float[] latents = new float[destination.Length];
        long e0 = Stopwatch.GetTimestamp();
        encoder.Encode(imageTensor, 1, height, width, latents, start.Random, start.RunOptions);
        start.EncoderTicks += Stopwatch.GetTimestamp() - e0;
        DenoisingLoop.RequireFinite(latents, "VAE encoder", encoder.ModelPath, null);
        TensorPrimitives.Multiply(latents, VaeScalingFactor, destination);
    }

    private VaeEncoder RequireVaeEncoder()
    {
        if (_vaeEncoder is not null)
            return _vaeEncoder;
        if (_vaeEncoderPath is null)
            throw new InvalidOptionException(nameof(GenerationOptions.InitImage),
                "image-to-image and inpainting need a VAE encoder, and this pipeline has none (no vae_encoder/model.onnx in the model folder).");
        _vaeEncoder = VaeEncoder.Load(_vaeEncoderPath, _vaeEncoderSettings);
        return _vaeEncoder;
    }

    /// <summary>What the latent-preparation steps share for one generation.</summary>
    private sealed class LatentStart(float[] latents, int batch, int startIndex, IRandomSource random, RunOptions runOptions)
    {
        public float[] Latents { get; } = latents;

        public int Batch { get; } = batch;

        public int StartIndex { get; } = startIndex;

        public IRandomSource Random { get; } = random;

        public RunOptions RunOptions { get; } = runOptions;

        public long EncoderTicks { get; set; }
    }

    /// <summary>In <see cref="MemoryMode.Sequential"/> mode, releases a model's session once its stage is done.</summary>
    private void ReleaseIfSequential(Models.OnnxModel model)
    {
        if (_settings.MemoryMode == MemoryMode.Sequential)
            model.Unload();
    }

    /// <inheritdoc />
    /// <remarks>
    /// Cancels a running <see cref="Generate"/> call and waits for it to unwind before the models are released (from
    /// that call's own progress callback it returns at once and the call releases them as it ends); calls waiting for
    /// their turn end with <see cref="ObjectDisposedException"/>. Safe to call more than once and from any thread.
    /// </remarks>
    public void Dispose()
    {
        lock (_lifetime)
        {
            if (_disposed)
                return;
            _disposed = true;
            if (_runningThreadId == Environment.CurrentManagedThreadId)
                _releaseWhenIdle = true;
        }
        _disposing.Cancel(); // terminates the running call's model run and wakes the waiting calls
        if (_releaseWhenIdle)
            return;
        _turn.Wait(); // the running call, if any, has unwound; nothing enters after _disposed
        ReleaseModels();
        _turn.Release();
    }

    private void ReleaseModels()
    {
        TextEncoder.Dispose();
        UNet.Dispose();
        VaeDecoder.Dispose();
        _vaeEncoder?.Dispose();
        _adapters.Dispose(); // after the sessions that use the overrides
    }

    /// <summary>
    /// Strips A1111 <c>&lt;lora:name:weight&gt;</c> tags when a LoRA folder is set and makes the sessions match
    /// <see cref="PipelineSettings.Loras"/> plus the tags: a component whose LoRA set changed gets a new session (and its
    /// old session and merged weights are released); the others are kept.
    /// </summary>
    private string ApplyLoras(string prompt)
    {
        if (_settings.LoraDirectory is null && _settings.Loras.Count == 0)
            return prompt;
        var files = new List<LoraFile>(_settings.Loras);
        if (_settings.LoraDirectory is string directory)
        {
            prompt = LoraPromptTags.Extract(prompt, out IReadOnlyList<(string Name, float Weight)> tags);
            foreach ((string name, float weight) in tags)
                files.Add(new LoraFile(LoraPromptTags.ResolvePath(directory, name), weight));
        }
        Func<SessionSettings, SessionSettings>? textEncoderSettings = ReplaceLoras(_adapters.TextEncoder, TextEncoder.ModelPath, files);
        if (textEncoderSettings is not null)
        {
            TextEncoder old = TextEncoder;
            TextEncoder = TextEncoder.Load(old.ModelPath, textEncoderSettings(_settings.TextEncoderSettings));
            old.Dispose();
            _adapters.TextEncoder.CommitPending();
        }
        Func<SessionSettings, SessionSettings>? unetSettings = ReplaceLoras(_adapters.UNet, UNet.ModelPath, files);
        if (unetSettings is not null)
        {
            UNet old = UNet;
            UNet = UNet.Load(old.ModelPath, unetSettings(_settings.UNetSettings));
            old.Dispose();
            _adapters.UNet.CommitPending();
        }
        return prompt;
    }

    /// <summary>
    /// When <paramref name="files"/> changes <paramref name="component"/>'s LoRA set: merges the new set (kept pending
    /// until the new session exists) and returns how to make its session settings; else null.
    /// </summary>
    private Func<SessionSettings, SessionSettings>? ReplaceLoras(PipelineAdapters.ComponentLoras component, string modelPath, List<LoraFile> files)
    {
        List<LoraFile> selected = _adapters.Select(files, component.Target);
        if (component.Matches(selected))
            return null;
        (WeightOverrides? overrides, LoraApplicationReport? report) = _adapters.Merge(modelPath, component.Target, selected);
        component.SetPending(selected, overrides, report);
        return settings => _adapters.SettingsFor(component, settings, pending: true);
    }

    private static void SetLoras(PipelineAdapters adapters, PipelineAdapters.ComponentLoras component, string modelPath, IReadOnlyList<LoraFile> loras)
    {
        List<LoraFile> selected = adapters.Select(loras, component.Target);
        (WeightOverrides? overrides, LoraApplicationReport? report) = adapters.Merge(modelPath, component.Target, selected);
        component.SetPending(selected, overrides, report);
        component.CommitPending();
    }

    private int ChooseImagesPerCall(int batch, bool guided)
    {
        int modelBatch = guided ? 2 * batch : batch;
        int? fixedBatch = UNet.FixedBatchSize;
        if (fixedBatch is int f)
        {
            if (modelBatch % f != 0)
                throw new InvalidOptionException(nameof(GenerationOptions.ImagesPerPrompt),
                    $"the UNet ({UNet.ModelPath}) has a fixed batch of {f}, which does not divide the {modelBatch} latents this call needs.");
            if (_guidanceMode == ClassifierFreeGuidanceMode.Batched && f != modelBatch)
                throw new InvalidOptionException(nameof(PipelineSettings.GuidanceMode),
                    $"Batched guidance needs a UNet batch of {modelBatch}, but {UNet.ModelPath} has a fixed batch of {f}.");
            return f;
        }
        return _guidanceMode == ClassifierFreeGuidanceMode.Separate && guided ? batch : modelBatch;
    }

    private static ulong DrawSeed() => (ulong)RandomNumberGenerator.GetInt32(int.MaxValue);
}
