using Diffusion.Core;

namespace Diffusion.Server.Jobs;

/// <summary>What a client asks for, in the server's own terms (every API maps its JSON to this, then it is checked once).</summary>
internal sealed record GenerationRequest
{
    public string Prompt { get; init; } = string.Empty;
    public string NegativePrompt { get; init; } = string.Empty;
    public int Steps { get; init; } = 20;
    public float? GuidanceScale { get; init; }
    /// <summary>Null for a random seed.</summary>
    public ulong? Seed { get; init; }
    public int? Width { get; init; }
    public int? Height { get; init; }
    /// <summary>A scheduler name (diffusers, A1111 or ComfyUI); null for the model's.</summary>
    public string? Sampler { get; init; }
    public int BatchSize { get; init; } = 1;
    /// <summary>PNG/JPEG/WebP bytes of the image to start from (image-to-image).</summary>
    public byte[]? InitImage { get; init; }
    public double? Strength { get; init; }
    /// <summary>
    /// PNG/JPEG/WebP bytes of an inpainting mask (white repaints, black keeps; resized to the init image when its size
    /// differs). The result keeps the init image's pixels outside the mask, as A1111 does.
    /// </summary>
    public byte[]? Mask { get; init; }
    /// <summary>Repaint where the mask is black instead (A1111's <c>inpainting_mask_invert</c>).</summary>
    public bool InvertMask { get; init; }
    /// <summary>Feather radius in pixels where the repainted region meets the kept one.</summary>
    public int MaskBlur { get; init; }
    /// <summary>Read the prompt with A1111's weighting syntax (the A1111 API always does).</summary>
    public bool WeightedPrompt { get; init; } = true;
    /// <summary>Step caching (DeepCache) as <c>INTERVAL</c> or <c>INTERVAL:POINT</c>; null for none.</summary>
    public string? StepCache { get; init; }
    /// <summary>Higher runs first; ties run in arrival order.</summary>
    public int Priority { get; init; }

    /// <summary>Longest prompt accepted, in characters.</summary>
    public const int MaxPromptLength = 16_384;

    /// <summary>Checks the request against the server's limits; throws <see cref="InvalidOptionException"/> naming the field.</summary>
    public void Validate(ServerOptions limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (Prompt.Length > MaxPromptLength)
            throw new InvalidOptionException("prompt", $"is {Prompt.Length} characters; at most {MaxPromptLength}.");
        if (NegativePrompt.Length > MaxPromptLength)
            throw new InvalidOptionException("negative_prompt", $"is {NegativePrompt.Length} characters; at most {MaxPromptLength}.");
        if (Steps < 1 || Steps > limits.MaxSteps)
            throw new InvalidOptionException("steps", $"{Steps} is outside 1 to {limits.MaxSteps}.");
        if (BatchSize < 1 || BatchSize > limits.MaxBatch)
            throw new InvalidOptionException("batch_size", $"{BatchSize} is outside 1 to {limits.MaxBatch}.");
        foreach ((string name, int? value) in new[] { ("width", Width), ("height", Height) })
            if (value is int size && (size < 8 || size > limits.MaxImageSize || size % 8 != 0))
                throw new InvalidOptionException(name, $"{size} is not a multiple of 8 from 8 to {limits.MaxImageSize}.");
        if (InitImage is not null && InitImage.Length > limits.MaxImageBytes)
            throw new InvalidOptionException("init_images", $"the image is {InitImage.Length:N0} bytes; at most {limits.MaxImageBytes:N0}.");
        if (Mask is not null)
        {
            if (Mask.Length > limits.MaxImageBytes)
                throw new InvalidOptionException("mask", $"the mask is {Mask.Length:N0} bytes; at most {limits.MaxImageBytes:N0}.");
            if (InitImage is null)
                throw new InvalidOptionException("mask", "inpainting needs the image to repaint (init_images).");
        }
        if (MaskBlur < 0 || MaskBlur > 256)
            throw new InvalidOptionException("mask_blur", $"{MaskBlur} is outside 0 to 256 pixels.");
        if (StepCache is not null && !Core.Pipelines.DeepCache.TryParse(StepCache, out _))
            throw new InvalidOptionException("deep_cache", $"is INTERVAL or INTERVAL:POINT (interval 1 or more, point 0 or more), got '{StepCache}'.");
    }
}
