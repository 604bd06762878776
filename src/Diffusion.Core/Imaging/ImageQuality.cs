namespace Diffusion.Core.Imaging;

/// <summary>Image comparison metrics used to judge decoded or round-tripped images against a reference.</summary>
public static class ImageQuality
{
    /// <summary>
    /// Peak signal-to-noise ratio in decibels between two 8-bit RGB images:
    /// <c>10 · log10(255² / MSE)</c>, where MSE is the mean squared difference over every byte (all pixels, all
    /// three channels). This is scikit-image's <c>peak_signal_noise_ratio(a, b, data_range=255)</c>.
    /// </summary>
    /// <param name="a">The first image.</param>
    /// <param name="b">The second image, of the same size.</param>
    /// <returns>The PSNR in dB; <see cref="double.PositiveInfinity"/> when the images are identical (MSE = 0).</returns>
    /// <exception cref="ArgumentException">The images differ in size.</exception>
    public static double PeakSignalToNoiseRatio(ImageBuffer a, ImageBuffer b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Width != b.Width || a.Height != b.Height)
            throw new ArgumentException($"Cannot compare a {a.Width}x{a.Height} image with a {b.Width}x{b.Height} image.", nameof(b));
        ReadOnlySpan<byte> x = a.Pixels;
        ReadOnlySpan<byte> y = b.Pixels;
        // Exact integer sum: 255² · 2^31 bytes would still fit a long.
        long sumOfSquares = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int difference = x[i] - y[i];
            sumOfSquares += difference * difference;
        }
        if (sumOfSquares == 0)
            return double.PositiveInfinity;
        double meanSquaredError = (double)sumOfSquares / x.Length;
        return 10.0 * Math.Log10(255.0 * 255.0 / meanSquaredError);
    }
}
