using Diffusion.Core.Imaging;

namespace Diffusion.Core.Tests.Imaging;

public sealed class ImageQualityTests
{
    [Fact]
    public void IdenticalImagesHaveInfinitePsnr()
    {
        var a = new ImageBuffer(3, 2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
        var b = new ImageBuffer(3, 2, (byte[])a.Pixels.Clone());
        Assert.Equal(double.PositiveInfinity, ImageQuality.PeakSignalToNoiseRatio(a, b));
    }

    [Fact]
    public void PsnrOfAKnownDifference()
    {
        // One byte of six differs by 10: MSE = 100 / 6, PSNR = 10·log10(255² · 6 / 100) = 35.9123... dB
        // (skimage.metrics.peak_signal_noise_ratio(a, b, data_range=255) gives the same).
        var a = new ImageBuffer(2, 1, [0, 0, 0, 0, 0, 0]);
        var b = new ImageBuffer(2, 1, [0, 0, 0, 0, 10, 0]);
        Assert.Equal(10 * Math.Log10(255.0 * 255.0 * 6 / 100), ImageQuality.PeakSignalToNoiseRatio(a, b), 12);
        Assert.Equal(35.9123, ImageQuality.PeakSignalToNoiseRatio(a, b), 4);
    }

    [Fact]
    public void BlackAgainstWhiteIsZeroDecibels()
    {
        var black = new ImageBuffer(4, 4);
        var white = new ImageBuffer(4, 4, Enumerable.Repeat((byte)255, 48).ToArray());
        Assert.Equal(0.0, ImageQuality.PeakSignalToNoiseRatio(black, white), 12);
    }

    [Fact]
    public void ImagesOfDifferentSizesAreRejected()
        => Assert.Throws<ArgumentException>(() => ImageQuality.PeakSignalToNoiseRatio(new ImageBuffer(2, 2), new ImageBuffer(2, 3)));
}
