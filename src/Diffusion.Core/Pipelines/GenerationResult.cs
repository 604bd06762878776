using Diffusion.Core.Adapters;
using Diffusion.Core.Imaging;

namespace Diffusion.Core.Pipelines;

/// <summary>The output of one generation: images, the final latents and what it cost.</summary>
public sealed class GenerationResult
{
    internal GenerationResult(
        IReadOnlyList<ImageBuffer> images, float[] latents, int[] latentShape, ulong seed,
        bool promptTruncated, bool negativePromptTruncated, GenerationTimings timings)
    {
        Images = images;
        Latents = latents;
        LatentShape = latentShape;
        Seed = seed;
        PromptTruncated = promptTruncated;
        NegativePromptTruncated = negativePromptTruncated;
        Timings = timings;
    }

    /// <summary>The decoded images, one per <see cref="GenerationOptions.ImagesPerPrompt"/> (none when <see cref="GenerationOptions.DecodeImages"/> is false).</summary>
    public IReadOnlyList<ImageBuffer> Images { get; }

    /// <summary>The final denoised latents (scaled, as the UNet sees them), NCHW float32.</summary>
    public float[] Latents { get; }

    /// <summary>Shape of <see cref="Latents"/>: [batch, channels, height/8, width/8].</summary>
    public IReadOnlyList<int> LatentShape { get; }

    /// <summary>The final latents with their shape, to hand to another call's <see cref="GenerationOptions.InitLatents"/>.</summary>
    public LatentImage LatentImage => new(Latents, LatentShape[0], LatentShape[1], LatentShape[2], LatentShape[3]);

    /// <summary>The seed used (the one given, or the one drawn when none was).</summary>
    public ulong Seed { get; }

    /// <summary>True when the prompt was longer than the text encoder's window and its tail was dropped.</summary>
    public bool PromptTruncated { get; }

    /// <summary>True when the negative prompt was truncated.</summary>
    public bool NegativePromptTruncated { get; }

    /// <summary>
    /// UNet evaluations (scheduler steps) this generation ran: all the scheduler's timesteps for text-to-image, the
    /// strength's share of them for image-to-image and inpainting (0 at strength 0).
    /// </summary>
    public int DenoisingSteps { get; init; }

    /// <summary>Of <see cref="DenoisingSteps"/>, those that reused the cached UNet feature (<see cref="GenerationOptions.StepCache"/>); 0 without caching.</summary>
    public int CachedSteps { get; init; }

    /// <summary>
    /// True when <see cref="MemoryMode.Auto"/> decoded the images in tiles (<see cref="Models.TiledVaeDecoder"/>'s defaults)
    /// because a whole decode at this size would not fit in the memory available; the log says why.
    /// </summary>
    public bool VaeDecodeTiled { get; private set; }

    /// <summary>Marks the result as decoded in tiles when <paramref name="tiled"/> (the pipelines decide before decoding).</summary>
    internal GenerationResult WithVaeDecodeTiledIf(bool tiled)
    {
        VaeDecodeTiled = tiled;
        return this;
    }

    /// <summary>What the LoRAs in effect for this call merged (one report per component they touch); empty without LoRAs.</summary>
    public IReadOnlyList<LoraApplicationReport> LoraReports { get; init; } = [];

    /// <summary>Where the time went.</summary>
    public GenerationTimings Timings { get; }
}
