using System.Diagnostics;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using Diffusion.Core.Execution;
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
/// constructor. The pipeline owns (and disposes) its models. Not thread-safe.
/// </remarks>
public sealed class StableDiffusionPipeline : IDiffusionPipeline
{
    private readonly ILogger? _logger;
    private readonly ClassifierFreeGuidanceMode _guidanceMode;
    private bool _disposed;

    /// <summary>Composes a pipeline from loaded parts; the pipeline takes ownership of the models.</summary>
    /// <param name="tokenizer">The CLIP tokenizer matching the text encoder.</param>
    /// <param name="textEncoder">The text encoder.</param>
    /// <param name="unet">The UNet.</param>
    /// <param name="vaeDecoder">The VAE decoder.</param>
    /// <param name="scheduler">The default scheduler (swap it with <see cref="Scheduler"/> or per call).</param>
    /// <param name="vaeScalingFactor">The VAE latent scaling factor (0.18215 for SD 1.x/2.x).</param>
    /// <param name="defaultImageSize">Width and height used when a call gives none.</param>
    /// <param name="settings">Guidance mode and logger; session settings are not used here (the models are already loaded).</param>
    public StableDiffusionPipeline(
        ClipTokenizer tokenizer, TextEncoder textEncoder, UNet unet, VaeDecoder vaeDecoder, IScheduler scheduler,
        float vaeScalingFactor = 0.18215f, int defaultImageSize = 512, PipelineSettings? settings = null)
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
        Tokenizer = tokenizer;
        TextEncoder = textEncoder;
        UNet = unet;
        VaeDecoder = vaeDecoder;
        Scheduler = scheduler;
        VaeScalingFactor = vaeScalingFactor;
        DefaultImageSize = defaultImageSize;
        _logger = settings?.Logger;
        _guidanceMode = settings?.GuidanceMode ?? ClassifierFreeGuidanceMode.Auto;
    }

    /// <summary>The tokenizer.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>The text encoder.</summary>
    public TextEncoder TextEncoder { get; }

    /// <summary>The UNet.</summary>
    public UNet UNet { get; }

    /// <summary>The VAE decoder.</summary>
    public VaeDecoder VaeDecoder { get; }

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

        TextEncoder? textEncoder = null;
        UNet? unet = null;
        VaeDecoder? vaeDecoder = null;
        try
        {
            long start = Stopwatch.GetTimestamp();
            textEncoder = TextEncoder.Load(folder.TextEncoderPath, settings.TextEncoderSettings);
            unet = UNet.Load(folder.UNetPath, settings.UNetSettings);
            vaeDecoder = VaeDecoder.Load(folder.VaeDecoderPath, settings.VaeDecoderSettings);
            if (settings.Logger is { } logger)
            {
                double milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                PipelineLog.Loaded(logger, folder.Directory, milliseconds, scheduler.GetType().Name);
            }
            return new StableDiffusionPipeline(tokenizer, textEncoder, unet, vaeDecoder, scheduler,
                folder.VaeScalingFactor, folder.DefaultImageSize, settings);
        }
        catch
        {
            vaeDecoder?.Dispose();
            unet?.Dispose();
            textEncoder?.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public GenerationResult Generate(
        GenerationOptions options, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ObjectDisposedException.ThrowIf(_disposed, this);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();

        long start = Stopwatch.GetTimestamp();
        int width = options.Width ?? DefaultImageSize;
        int height = options.Height ?? DefaultImageSize;
        int latentWidth = width / 8, latentHeight = height / 8;
        int batch = options.ImagesPerPrompt;
        bool guided = options.GuidanceScale > 1f;
        int imagesPerCall = ChooseImagesPerCall(batch, guided);
        IScheduler scheduler = options.Scheduler ?? Scheduler;
        ulong seed = options.Seed ?? DrawSeed();
        IRandomSource random = RandomSource.Create(options.RandomSource, seed);

        // Tokenize.
        long t0 = Stopwatch.GetTimestamp();
        TokenizedText prompt = Tokenizer.Encode(options.Prompt);
        TokenizedText negative = guided ? Tokenizer.Encode(options.NegativePrompt) : prompt;
        if (_logger is not null && prompt.Truncated)
            PipelineLog.PromptTruncated(_logger, "Prompt", prompt.DroppedTokenCount, Tokenizer.MaxLength);
        if (_logger is not null && guided && negative.Truncated)
            PipelineLog.PromptTruncated(_logger, "Negative prompt", negative.DroppedTokenCount, Tokenizer.MaxLength);
        long tokenizerTicks = Stopwatch.GetTimestamp() - t0;

        using var runOptions = new RunOptions();
        using CancellationTokenRegistration registration = cancellationToken.Register(
            static state => ((RunOptions)state!).Terminate = true, runOptions);
        try
        {
            // Encode text: [uncond × n | cond × n] with guidance, else [cond × n].
            int sequenceLength = prompt.Ids.Length;
            int hiddenSize = TextEncoder.GetHiddenSize();
            int perPrompt = sequenceLength * hiddenSize;
            int embeddingCount = guided ? 2 * batch : batch;
            float[] embeddings = new float[embeddingCount * perPrompt];
            long e0 = Stopwatch.GetTimestamp();
            if (guided)
                TextEncoder.Encode(negative.Ids, 1, sequenceLength, embeddings.AsMemory(0, perPrompt), runOptions);
            int conditionalStart = guided ? batch * perPrompt : 0;
            TextEncoder.Encode(prompt.Ids, 1, sequenceLength, embeddings.AsMemory(conditionalStart, perPrompt), runOptions);
            long textEncoderTicks = Stopwatch.GetTimestamp() - e0;
            for (int i = 1; i < batch; i++)
            {
                embeddings.AsSpan(conditionalStart, perPrompt).CopyTo(embeddings.AsSpan(conditionalStart + i * perPrompt));
                if (guided)
                    embeddings.AsSpan(0, perPrompt).CopyTo(embeddings.AsSpan(i * perPrompt));
            }

            // Initial latents: one N(0,1) draw of the whole batch, scaled by the scheduler's init sigma.
            long s0 = Stopwatch.GetTimestamp();
            scheduler.SetTimesteps(options.Steps);
            float[] latents = new float[batch * 4 * latentHeight * latentWidth];
            random.NextStandardNormal(latents);
            TensorPrimitives.Multiply(latents, scheduler.InitNoiseSigma, latents);
            long setupSchedulerTicks = Stopwatch.GetTimestamp() - s0;

            var loop = new DenoisingLoop(UNet) { ControlNet = ControlNetConditioner.Create(UNet, options.ControlNets, width, height, imagesPerCall) };
            loop.Run(latents, batch, latentHeight, latentWidth, embeddings, sequenceLength, options.GuidanceScale,
                imagesPerCall, scheduler, 0, random, runOptions, progress, start, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();

            // Decode: latents / scaling factor → VAE → [-1, 1] images → RGB bytes.
            float[] decoderInput = new float[latents.Length];
            TensorPrimitives.Divide(latents, VaeScalingFactor, decoderInput);
            float[] decoded = new float[batch * 3 * height * width];
            long d0 = Stopwatch.GetTimestamp();
            VaeDecoder.Decode(decoderInput, batch, latentHeight, latentWidth, decoded, runOptions);
            long d1 = Stopwatch.GetTimestamp();
            ImageBuffer[] images = ImageTensorConverter.FromTensor(decoded, batch, height, width);
            long d2 = Stopwatch.GetTimestamp();

            var timings = new GenerationTimings
            {
                Tokenizer = Stopwatch.GetElapsedTime(0, tokenizerTicks),
                TextEncoder = Stopwatch.GetElapsedTime(0, textEncoderTicks),
                UNet = Stopwatch.GetElapsedTime(0, loop.UNetTicks),
                Scheduler = Stopwatch.GetElapsedTime(0, loop.SchedulerTicks + setupSchedulerTicks),
                VaeDecoder = Stopwatch.GetElapsedTime(d0, d1),
                ImageConversion = Stopwatch.GetElapsedTime(d1, d2),
                Total = Stopwatch.GetElapsedTime(start),
            };
            if (_logger is not null)
                PipelineLog.Generated(_logger, batch, width, height, options.Steps, seed, timings);
            return new GenerationResult(images, latents, [batch, 4, latentHeight, latentWidth], seed,
                prompt.Truncated, guided && negative.Truncated, timings);
        }
        catch (OnnxRuntimeException ex) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The generation was cancelled while a model was running.", ex, cancellationToken);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        TextEncoder.Dispose();
        UNet.Dispose();
        VaeDecoder.Dispose();
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
