using Diffusion.Core.Imaging;

namespace Diffusion.Core.Tests.Imaging;

public sealed class ImageOperationsTests
{
    [Fact]
    public void ResizeMatchesPillowForEveryFilterAndSize()
    {
        ImageBuffer source = ImagingReference.Source;
        int cases = 0;
        foreach (var reference in ImagingReference.Root.GetProperty("resize").EnumerateArray())
        {
            var filter = Enum.Parse<ResamplingFilter>(reference.GetProperty("filter").GetString()!);
            int width = reference.GetProperty("width").GetInt32(), height = reference.GetProperty("height").GetInt32();
            ImageBuffer resized = ImageOperations.Resize(source, width, height, filter);
            Assert.Equal((width, height), (resized.Width, resized.Height));
            Assert.True(ImagingReference.Bytes(reference.GetProperty("pixels")).AsSpan().SequenceEqual(resized.Pixels),
                $"{filter} 23x17 -> {width}x{height} differs from Pillow");
            cases++;
        }
        Assert.Equal(28, cases);
    }

    [Fact]
    public void ResizeToCoverMatchesDiffusersCropMode()
    {
        ImageBuffer source = ImagingReference.Source;
        foreach (var reference in ImagingReference.Root.GetProperty("cover").EnumerateArray())
        {
            int width = reference.GetProperty("width").GetInt32(), height = reference.GetProperty("height").GetInt32();
            ImageBuffer covered = ImageOperations.ResizeToCover(source, width, height);
            Assert.Equal((width, height), (covered.Width, covered.Height));
            Assert.True(ImagingReference.Bytes(reference.GetProperty("pixels")).AsSpan().SequenceEqual(covered.Pixels),
                $"cover 23x17 -> {width}x{height} differs from diffusers' resize_mode=\"crop\"");
        }
    }

    [Fact]
    public void ResizeToTheSameSizeIsACopy()
    {
        ImageBuffer source = ImagingReference.Source;
        ImageBuffer copy = ImageOperations.Resize(source, source.Width, source.Height);
        Assert.NotSame(source.Pixels, copy.Pixels);
        Assert.Equal(source.Pixels, copy.Pixels);
    }

    [Fact]
    public void BoxDownscaleByTwoAveragesEachBlock()
    {
        // 4x2 -> 2x1 with the box filter: each output pixel is the mean of a 2x2 block, rounded half up (fixed point).
        byte[] pixels =
        [
            0, 0, 0, 10, 20, 30, 100, 100, 100, 200, 200, 200,
            2, 4, 6, 12, 24, 36, 101, 101, 101, 201, 201, 201,
        ];
        ImageBuffer half = ImageOperations.Resize(new ImageBuffer(4, 2, pixels), 2, 1, ResamplingFilter.Box);
        Assert.Equal(new byte[] { 6, 12, 18, 151, 151, 151 }, half.Pixels);
    }

    [Fact]
    public void CenterCropTakesTheMiddle()
    {
        // 4x1 image with pixels 0..3 (R channel = index); cropping 2 keeps pixels 1 and 2.
        var image = new ImageBuffer(4, 1, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
        ImageBuffer cropped = ImageOperations.CenterCrop(image, 2, 1);
        Assert.Equal(new byte[] { 1, 1, 1, 2, 2, 2 }, cropped.Pixels);
    }

    [Theory]
    [InlineData(8, 5, 2)] // 8/2 - 5/2 = 2
    [InlineData(9, 6, 1)] // 9/2 - 6/2 = 1
    [InlineData(9, 9, 0)]
    public void CenterCropPlacesOddSurplusByDiffusersRule(int sourceWidth, int cropWidth, int expectedLeft)
    {
        var pixels = new byte[sourceWidth * 3];
        for (int x = 0; x < sourceWidth; x++)
            pixels[3 * x] = (byte)x;
        ImageBuffer cropped = ImageOperations.CenterCrop(new ImageBuffer(sourceWidth, 1, pixels), cropWidth, 1);
        Assert.Equal(cropWidth, cropped.Width);
        Assert.Equal(expectedLeft, cropped.Pixels[0]);
    }

    [Fact]
    public void CenterCropLargerThanTheImageIsRejected()
        => Assert.Throws<ArgumentException>(() => ImageOperations.CenterCrop(new ImageBuffer(4, 4), 5, 4));

    [Theory]
    [InlineData(0, 4)]
    [InlineData(4, -1)]
    public void NonPositiveTargetSizesAreRejected(int width, int height)
    {
        var image = new ImageBuffer(4, 4);
        Assert.Throws<ArgumentException>(() => ImageOperations.Resize(image, width, height));
        Assert.Throws<ArgumentException>(() => ImageOperations.ResizeToCover(image, width, height));
    }

    [Theory]
    [InlineData(60, 40, 64, 64)]
    [InlineData(40, 60, 64, 64)]
    [InlineData(60, 40, 64, 96)]
    [InlineData(40, 60, 96, 64)]
    [InlineData(7, 3, 2, 2)]
    public void ResizeToCoverAlwaysGivesTheTargetSize(int sourceWidth, int sourceHeight, int width, int height)
    {
        ImageBuffer covered = ImageOperations.ResizeToCover(new ImageBuffer(sourceWidth, sourceHeight), width, height);
        Assert.Equal((width, height), (covered.Width, covered.Height));
    }
}
