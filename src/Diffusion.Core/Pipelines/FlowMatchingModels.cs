using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The models a <see cref="FlowMatchingPipeline"/> owns: the CLIP encoders with their tokenizers (FLUX.1: CLIP-L; SD3:
/// CLIP-L and CLIP-G), the T5 encoder with its tokenizer (absent for an SD3 folder without <c>text_encoder_3</c>), the
/// transformer, the VAE decoder and the VAE encoder (created on first use, so text-to-image never pays for it); and the release of each session after its stage in <see cref="MemoryMode.Sequential"/>.
/// </summary>
internal sealed class FlowMatchingModels(
    IReadOnlyList<(ClipTokenizer Tokenizer, TextEncoder Encoder)> clipEncoders, (T5Tokenizer Tokenizer, TextEncoder Encoder)? t5,
    DiffusionTransformer transformer, VaeDecoder vaeDecoder, ModelSource? vaeEncoderSource, SessionSettings vaeEncoderSettings,
    MemoryMode memoryMode) : IDisposable
{
    private readonly (ClipTokenizer Tokenizer, TextEncoder Encoder)[] _clipEncoders = [.. clipEncoders];
    private VaeEncoder? _vaeEncoder;

    /// <summary>The CLIP encoders in conditioning order, each with its tokenizer.</summary>
    public IReadOnlyList<(ClipTokenizer Tokenizer, TextEncoder Encoder)> ClipEncoders => _clipEncoders;

    /// <summary>The T5 encoder and its tokenizer, or null (SD3 without <c>text_encoder_3</c>: zeros stand in, as diffusers).
    /// Replaced when a call's LoRA set changes FLUX.1's T5.</summary>
    public (T5Tokenizer Tokenizer, TextEncoder Encoder)? T5 { get; set; } = t5;

    /// <summary>The transformer; replaced when a call's LoRA set changes it.</summary>
    public DiffusionTransformer Transformer { get; set; } = transformer;

    /// <summary>Puts <paramref name="encoder"/> in CLIP encoder <paramref name="index"/>'s place (its LoRA set changed).</summary>
    public void ReplaceClipEncoder(int index, TextEncoder encoder) => _clipEncoders[index] = (_clipEncoders[index].Tokenizer, encoder);

    public VaeDecoder VaeDecoder { get; } = vaeDecoder;

    /// <summary>The VAE encoder, created from <c>vae_encoder/model.onnx</c> (or built from <c>vae/</c>) on first use.</summary>
    /// <exception cref="InvalidOptionException">The folder has no VAE encoder.</exception>
    public VaeEncoder RequireVaeEncoder()
    {
        if (_vaeEncoder is not null)
            return _vaeEncoder;
        if (vaeEncoderSource is null)
            throw new InvalidOptionException(nameof(GenerationOptions.InitImage),
                "image-to-image needs a VAE encoder, and this model folder has none (no vae_encoder/model.onnx, nor vae/ weights).");
        return _vaeEncoder = VaeEncoder.Load(vaeEncoderSource, vaeEncoderSettings);
    }

    /// <summary>In <see cref="MemoryMode.Sequential"/> mode, releases a model's session once its stage is done.</summary>
    public void ReleaseIfSequential(OnnxModel model)
    {
        if (memoryMode == MemoryMode.Sequential)
            model.Unload();
    }

    /// <summary>Releases every text encoder's session in <see cref="MemoryMode.Sequential"/> mode.</summary>
    public void ReleaseEncodersIfSequential()
    {
        foreach ((_, TextEncoder encoder) in ClipEncoders)
            ReleaseIfSequential(encoder);
        if (T5 is { } t5Encoder)
            ReleaseIfSequential(t5Encoder.Encoder);
    }

    public void Dispose()
    {
        foreach ((_, TextEncoder encoder) in ClipEncoders)
            encoder.Dispose();
        T5?.Encoder.Dispose();
        Transformer.Dispose();
        VaeDecoder.Dispose();
        _vaeEncoder?.Dispose();
    }
}
