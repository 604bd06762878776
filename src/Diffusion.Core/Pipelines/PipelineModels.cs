using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The models a pipeline owns and their lifecycle: the text encoder(s) and UNet (replaced when a call's LoRA set changes
/// their weights), the VAE decoder, the VAE encoder (created on first use, so text-to-image never pays for it), and
/// the release of each session after its stage in <see cref="MemoryMode.Sequential"/>.
/// </summary>
internal sealed class PipelineModels : IDisposable
{
    private readonly ModelSource? _vaeEncoderSource;
    private readonly SessionSettings _vaeEncoderSettings;
    private readonly MemoryMode _memoryMode;
    private VaeDecoder? _fallbackDecoder;
    private DeepCacheUNets? _deepCache;

    public PipelineModels(ClipTokenizer tokenizer, TextEncoder textEncoder, UNet unet, VaeDecoder vaeDecoder, VaeEncoder? vaeEncoder,
        ModelSource? vaeEncoderSource, SessionSettings vaeEncoderSettings, MemoryMode memoryMode)
    {
        Tokenizer = tokenizer;
        TextEncoder = textEncoder;
        UNet = unet;
        VaeDecoder = vaeDecoder;
        VaeEncoder = vaeEncoder;
        _vaeEncoderSource = vaeEncoderSource;
        _vaeEncoderSettings = vaeEncoderSettings;
        _memoryMode = memoryMode;
    }

    /// <summary>The first text encoder's tokenizer (<c>tokenizer/</c>; <c>tokenizer_2/</c> for an SDXL refiner, which has only that one).</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>The first text encoder (<c>text_encoder/</c>; <c>text_encoder_2/</c> for an SDXL refiner).</summary>
    public TextEncoder TextEncoder { get; set; }

    /// <summary>SDXL base: <c>tokenizer_2/</c>; else null.</summary>
    public ClipTokenizer? Tokenizer2 { get; init; }

    /// <summary>SDXL base: <c>text_encoder_2/</c>; else null.</summary>
    public TextEncoder? TextEncoder2 { get; set; }

    /// <summary>The text encoders in conditioning order, each with its tokenizer.</summary>
    public IReadOnlyList<(ClipTokenizer Tokenizer, TextEncoder Encoder)> TextEncoders
        => Tokenizer2 is not null && TextEncoder2 is not null ? [(Tokenizer, TextEncoder), (Tokenizer2, TextEncoder2)] : [(Tokenizer, TextEncoder)];

    public UNet UNet { get; set; }

    public VaeDecoder VaeDecoder { get; }

    /// <summary>The float32 decoder to decode again with when a float16 decode overflows (<see cref="PipelineSettings.VaeDecoderFallbackPath"/>), or null.</summary>
    public string? VaeDecoderFallbackPath { get; init; }

    /// <summary>Session settings of <see cref="VaeDecoderFallbackPath"/>'s decoder (the VAE decoder's).</summary>
    public SessionSettings? VaeDecoderFallbackSettings { get; init; }

    /// <summary>The fallback decoder, created on first use; it must compute in float32, or it would overflow too.</summary>
    /// <exception cref="ModelContractException">The fallback decoder is a float16 model.</exception>
    public VaeDecoder RequireFallbackDecoder()
    {
        if (_fallbackDecoder is not null)
            return _fallbackDecoder;
        var decoder = VaeDecoder.Load(VaeDecoderFallbackPath!, VaeDecoderFallbackSettings);
        if (decoder.ElementKind != TensorElementKind.Float32)
        {
            decoder.Dispose();
            throw new ModelContractException(VaeDecoderFallbackPath!, decoder.LatentInput.Name,
                $"{nameof(PipelineSettings.VaeDecoderFallbackPath)} must be a float32 decoder (a float16 one overflows as the first did); this one computes in {decoder.ElementKind}.");
        }
        return _fallbackDecoder = decoder;
    }

    /// <summary>The VAE encoder once created (or given), else null.</summary>
    public VaeEncoder? VaeEncoder { get; private set; }

    /// <summary>The VAE encoder, created from the folder's <c>vae_encoder/model.onnx</c> (or built from <c>vae/</c>) on first use.</summary>
    /// <exception cref="InvalidOptionException">The pipeline has no VAE encoder.</exception>
    public VaeEncoder RequireVaeEncoder()
    {
        if (VaeEncoder is not null)
            return VaeEncoder;
        if (_vaeEncoderSource is null)
            throw new InvalidOptionException(nameof(GenerationOptions.InitImage),
                "image-to-image and inpainting need a VAE encoder, and this pipeline has none (no vae_encoder/model.onnx, nor vae/ weights, in the model folder).");
        VaeEncoder = VaeEncoder.Load(_vaeEncoderSource, _vaeEncoderSettings);
        return VaeEncoder;
    }

    /// <summary>
    /// The UNet cut for a step-cached call at <paramref name="cachePoint"/>, made on first use and kept while the UNet and
    /// the point stay the same. The UNet's own session is released meanwhile: the pair's full graph is the whole UNet.
    /// </summary>
    /// <exception cref="InvalidOptionException">The UNet cannot be cut (an exported graph, or no such point).</exception>
    public DeepCacheUNets StepCacheUNets(int cachePoint)
    {
        if (_deepCache is not null && (!ReferenceEquals(_deepCache.Origin, UNet) || _deepCache.CachePoint != cachePoint))
        {
            _deepCache.Dispose();
            _deepCache = null;
        }
        // Cut first: a UNet that cannot be cut is refused and stays loaded.
        (byte[] Full, byte[] Cached)? graphs = _deepCache is null ? DeepCacheUNets.Cut(UNet, cachePoint) : null;
        UNet.Unload(); // loaded again by a call without caching in between
        return _deepCache ??= DeepCacheUNets.Load(UNet, cachePoint, graphs!.Value);
    }

    /// <summary>Before a call without step caching: releases the cut pair's sessions so only one copy of the UNet is held.</summary>
    public void ReleaseStepCacheUNets() => _deepCache?.Unload();

    /// <summary>In <see cref="MemoryMode.Sequential"/> mode, releases a model's session once its stage is done.</summary>
    public void ReleaseIfSequential(OnnxModel? model)
    {
        if (model is not null && _memoryMode == MemoryMode.Sequential)
            model.Unload();
    }

    public void Dispose()
    {
        TextEncoder.Dispose();
        TextEncoder2?.Dispose();
        UNet.Dispose();
        _deepCache?.Dispose();
        VaeDecoder.Dispose();
        _fallbackDecoder?.Dispose();
        VaeEncoder?.Dispose();
    }
}
