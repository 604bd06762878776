namespace Diffusion.Core.Imaging;

/// <summary>
/// The geometry image-to-image and ControlNet inputs need before they reach the VAE: resize, center-crop, and
/// "cover" (scale preserving the aspect ratio, then crop). Results match Pillow and diffusers' <c>VaeImageProcessor</c>
/// bit for bit, so an image prepared here feeds the models the same bytes the Python pipelines would.
/// </summary>
public static class ImageOperations
{
    /// <summary>
    /// Resizes <paramref name="image"/> to exactly <paramref name="width"/>×<paramref name="height"/>, ignoring the
    /// aspect ratio. This is Pillow's <c>Image.resize((width, height), filter)</c> (two separable passes, horizontal
    /// then vertical, each rounded to 8 bits); the filter widens with the shrink factor, so downscaling is
    /// antialiased. The default, <see cref="ResamplingFilter.Lanczos"/>, is what diffusers' <c>VaeImageProcessor.resize</c> uses.
    /// </summary>
    /// <param name="image">The source image (not modified).</param>
    /// <param name="width">Target width in pixels.</param>
    /// <param name="height">Target height in pixels.</param>
    /// <param name="filter">The reconstruction filter.</param>
    /// <returns>A new image; a copy when the size is unchanged.</returns>
    /// <exception cref="ArgumentException">A target size is not positive.</exception>
    public static ImageBuffer Resize(ImageBuffer image, int width, int height, ResamplingFilter filter = ResamplingFilter.Lanczos)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckSize(width, height);
        return PillowResampler.Resize(image, width, height, filter);
    }

    /// <summary>
    /// Cuts the centered <paramref name="width"/>×<paramref name="height"/> region out of <paramref name="image"/>.
    /// The region starts at <c>left = image.Width / 2 − width / 2</c>, <c>top = image.Height / 2 − height / 2</c>
    /// (integer division), the placement diffusers' <c>_resize_and_crop</c> uses. With an odd surplus the extra
    /// column goes to one side by that formula: 5 out of 8 starts at column 2, 6 out of 9 starts at column 1.
    /// </summary>
    /// <param name="image">The source image (not modified).</param>
    /// <param name="width">Crop width; at most <c>image.Width</c>.</param>
    /// <param name="height">Crop height; at most <c>image.Height</c>.</param>
    /// <returns>A new image.</returns>
    /// <exception cref="ArgumentException">A size is not positive or larger than the image.</exception>
    public static ImageBuffer CenterCrop(ImageBuffer image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckSize(width, height);
        if (width > image.Width || height > image.Height)
            throw new ArgumentException(
                $"Cannot crop {width}x{height} out of a {image.Width}x{image.Height} image.", nameof(width));
        int left = image.Width / 2 - width / 2;
        int top = image.Height / 2 - height / 2;
        return Crop(image, left, top, width, height);
    }

    /// <summary>
    /// Scales <paramref name="image"/> preserving its aspect ratio so that it covers <paramref name="width"/>×<paramref name="height"/>,
    /// then center-crops the excess: diffusers' <c>VaeImageProcessor.resize(..., resize_mode="crop")</c>.
    /// </summary>
    /// <remarks>
    /// The rule, with integer division: if <c>width / height &gt; image.Width / image.Height</c> (compared as doubles) the
    /// image is scaled to <c>width × (image.Height · width / image.Width)</c>, otherwise to
    /// <c>(image.Width · height / image.Height) × height</c>; then <see cref="CenterCrop"/> takes the target.
    /// </remarks>
    /// <param name="image">The source image (not modified).</param>
    /// <param name="width">Target width in pixels.</param>
    /// <param name="height">Target height in pixels.</param>
    /// <param name="filter">The reconstruction filter for the scaling step.</param>
    /// <returns>A new image of exactly <paramref name="width"/>×<paramref name="height"/>.</returns>
    /// <exception cref="ArgumentException">A target size is not positive.</exception>
    public static ImageBuffer ResizeToCover(ImageBuffer image, int width, int height, ResamplingFilter filter = ResamplingFilter.Lanczos)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckSize(width, height);
        double targetRatio = (double)width / height;
        double sourceRatio = (double)image.Width / image.Height;
        int scaledWidth = targetRatio > sourceRatio ? width : (int)((long)image.Width * height / image.Height);
        int scaledHeight = targetRatio <= sourceRatio ? height : (int)((long)image.Height * width / image.Width);
        ImageBuffer scaled = PillowResampler.Resize(image, scaledWidth, scaledHeight, filter);
        return scaledWidth == width && scaledHeight == height ? scaled : CenterCrop(scaled, width, height);
    }

    private static ImageBuffer Crop(ImageBuffer image, int left, int top, int width, int height)
    {
        var pixels = new byte[width * height * 3];
        int sourceStride = image.Width * 3;
        int rowLength = width * 3;
        for (int y = 0; y < height; y++)
            image.Pixels.AsSpan((top + y) * sourceStride + left * 3, rowLength).CopyTo(pixels.AsSpan(y * rowLength, rowLength));
        return new ImageBuffer(width, height, pixels);
    }

    private static void CheckSize(int width, int height)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Target size must be positive, got {width}x{height}.", nameof(width));
    }
}
