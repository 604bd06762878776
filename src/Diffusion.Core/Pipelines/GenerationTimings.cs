namespace Diffusion.Core.Pipelines;

/// <summary>
/// Where the time of one generation went. Model times are measured around each ONNX Runtime
/// <c>Run</c>; <see cref="Overhead"/> is everything else the pipeline did (tokenizing, scheduler math,
/// guidance, conversions, buffer set-up).
/// </summary>
public sealed record GenerationTimings
{
    /// <summary>Time encoding the prompts: tokenizing, the text encoder's runs and (weighted syntax) applying the weights.</summary>
    public TimeSpan TextEncoder { get; init; }

    /// <summary>Time inside the denoiser's runs (the UNet's, or an SD3/FLUX.1 transformer's), all steps together.</summary>
    public TimeSpan UNet { get; init; }

    /// <summary>Time inside the VAE decoder's runs.</summary>
    public TimeSpan VaeDecoder { get; init; }

    /// <summary>Time inside the VAE encoder's runs (image-to-image only).</summary>
    public TimeSpan VaeEncoder { get; init; }

    /// <summary>
    /// Time spent preparing prompt text before encoding (LoRA tags, textual-inversion tokens, and merging LoRAs when
    /// the tags changed); tokenizing itself happens inside the prompt embedder and is counted in <see cref="TextEncoder"/>.
    /// </summary>
    public TimeSpan Tokenizer { get; init; }

    /// <summary>Time in scheduler math (<c>ScaleModelInput</c>, <c>Step</c>) and guidance combination.</summary>
    public TimeSpan Scheduler { get; init; }

    /// <summary>Time converting decoded tensors to images, resizing the init image and mask, and pasting original pixels back.</summary>
    public TimeSpan ImageConversion { get; init; }

    /// <summary>Wall time of the whole generation.</summary>
    public TimeSpan Total { get; init; }

    /// <summary>Sum of the time inside ONNX Runtime runs.</summary>
    public TimeSpan ModelRuns => TextEncoder + UNet + VaeDecoder + VaeEncoder;

    /// <summary>Wall time not spent inside ONNX Runtime runs: what the library itself costs.</summary>
    public TimeSpan Overhead => Total - ModelRuns;

    /// <inheritdoc />
    public override string ToString() =>
        $"total {Total.TotalMilliseconds:F1} ms = text encoder {TextEncoder.TotalMilliseconds:F1} + unet {UNet.TotalMilliseconds:F1} + " +
        $"vae decoder {VaeDecoder.TotalMilliseconds:F1} + vae encoder {VaeEncoder.TotalMilliseconds:F1} + overhead {Overhead.TotalMilliseconds:F1} " +
        $"(tokenizer {Tokenizer.TotalMilliseconds:F2}, scheduler+guidance {Scheduler.TotalMilliseconds:F2}, images {ImageConversion.TotalMilliseconds:F2})";
}
