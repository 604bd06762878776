namespace Diffusion.Imaging.Skia;

/// <summary>
/// Bounds on what <see cref="SkiaImageCodec"/> agrees to decode. A file's header declares its size before any pixel is
/// read, so an image larger than <see cref="MaxPixels"/> is refused before a byte of pixel memory is allocated: a small
/// compressed file may declare gigapixels.
/// </summary>
public sealed record ImageDecodeOptions
{
    /// <summary>
    /// The default pixel limit, 89,478,485 (about 9459×9459): Pillow's <c>Image.MAX_IMAGE_PIXELS</c>, the bound the
    /// Python tools apply to the same files. Decoding at the limit holds about 358 MB of RGBA plus 268 MB of RGB.
    /// </summary>
    public const long DefaultMaxPixels = 89_478_485;

    /// <summary>The bounds used when a call gives none.</summary>
    public static ImageDecodeOptions Default { get; } = new();

    /// <summary>The largest width × height accepted (at least 1; at most what one RGBA buffer can hold, about 536 million).</summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>The most pixels any buffer can hold: an RGBA row-major array must fit in one .NET array.</summary>
    internal static long HardMaxPixels => Array.MaxLength / 4;

    internal void Validate()
    {
        if (MaxPixels < 1 || MaxPixels > HardMaxPixels)
            throw new ArgumentOutOfRangeException(nameof(MaxPixels), MaxPixels, $"must be between 1 and {HardMaxPixels:N0}.");
    }
}
