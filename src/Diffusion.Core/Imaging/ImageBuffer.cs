namespace Diffusion.Core.Imaging;

/// <summary>
/// An 8-bit RGB image held in memory: <see cref="Pixels"/> stores rows top to bottom, each pixel as
/// three bytes R, G, B, with no padding. The core knows only this type; file formats live in optional
/// packages such as <c>Diffusion.Imaging.Skia</c>.
/// </summary>
public sealed class ImageBuffer
{
    /// <summary>Wraps <paramref name="pixels"/> (not copied) as a <paramref name="width"/>×<paramref name="height"/> RGB image.</summary>
    /// <exception cref="ArgumentException">The size is not positive or the array length is not width·height·3.</exception>
    public ImageBuffer(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Image size must be positive, got {width}x{height}.", nameof(width));
        if (pixels.Length != checked(width * height * 3))
            throw new ArgumentException($"Expected {width}x{height}x3 = {width * height * 3} bytes, got {pixels.Length}.", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>Creates a black image of the given size.</summary>
    public ImageBuffer(int width, int height) : this(width, height, new byte[checked(width * height * 3)]) { }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Interleaved RGB bytes, row-major, top row first.</summary>
    public byte[] Pixels { get; }
}
