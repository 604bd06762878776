using Diffusion.Core.Imaging;

namespace Diffusion.Core.Tests.Imaging;

public sealed class ImageTensorConverterTests
{
    /// <summary>Converts single values by placing them in the R plane of a 1×1 image.</summary>
    private static byte Quantize(float value)
    {
        var image = new ImageBuffer(1, 1);
        ImageTensorConverter.FromTensor([value, 0f, 0f], image);
        return image.Pixels[0];
    }

    [Theory]
    [InlineData(-1f, 0)]
    [InlineData(1f, 255)]
    [InlineData(0f, 128)] // 127.5 is a tie: numpy rounds half to even -> 128
    [InlineData(-3f, 0)]
    [InlineData(7f, 255)]
    [InlineData(float.PositiveInfinity, 255)]
    [InlineData(float.NegativeInfinity, 0)]
    [InlineData(float.NaN, 0)] // numpy: NaN.astype(uint8) == 0 on x86-64
    public void FromTensorMapsEdgeValuesLikeDiffusers(float value, byte expected) => Assert.Equal(expected, Quantize(value));

    [Fact]
    public void FromTensorRoundsExactHalvesToEven()
    {
        // float32 inputs where (x * 0.5 + 0.5) * 255 is exactly k + 0.5 (found by the reference generator):
        // numpy rounds 64.5 -> 64 and 65.5 -> 66; rounding half away from zero would give 65 and 66.
        Assert.Equal(64, Quantize(BitConverter.Int32BitsToSingle(-1090716419))); // x = -0.49411764740943909
        Assert.Equal(66, Quantize(BitConverter.Int32BitsToSingle(-1090979591))); // x = -0.48627451062202454
    }

    [Fact]
    public void FromTensorMatchesDiffusersPostprocessOnReferenceValues()
    {
        var reference = ImagingReference.Root.GetProperty("tensor_to_image");
        float[] values = ImagingReference.Floats(reference.GetProperty("values_f32"));
        byte[] expected = ImagingReference.Bytes(reference.GetProperty("expected_u8"));
        Assert.True(reference.GetProperty("exact_ties").GetInt32() > 100, "the reference set must exercise exact .5 ties");

        // Lay the values out as one image's three planes so the chunked and interleaving paths are used too.
        int plane = values.Length / 3;
        var image = new ImageBuffer(plane, 1);
        ImageTensorConverter.FromTensor(values.AsSpan(0, 3 * plane), image);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                Assert.True(expected[c * plane + i] == image.Pixels[3 * i + c],
                    $"value {values[c * plane + i]:R}: expected {expected[c * plane + i]}, got {image.Pixels[3 * i + c]}");
    }

    [Fact]
    public void ToTensorMatchesDiffusersPreprocessForEveryByte()
    {
        float[] expected = ImagingReference.Floats(ImagingReference.Root.GetProperty("image_to_tensor").GetProperty("expected_f32"));
        var pixels = new byte[256 * 3];
        for (int i = 0; i < 256; i++)
            pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = (byte)i;
        var tensor = new float[3 * 256];
        ImageTensorConverter.ToTensor(new ImageBuffer(256, 1, pixels), tensor);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 256; i++)
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(tensor[c * 256 + i]));
        Assert.Equal(-1f, tensor[0]);
        Assert.Equal(1f, tensor[255]);
    }

    [Fact]
    public void ToUnitTensorMatchesDiffusersWithoutNormalizeForEveryByte()
    {
        float[] expected = ImagingReference.Floats(ImagingReference.Root.GetProperty("image_to_unit_tensor").GetProperty("expected_f32"));
        var pixels = new byte[256 * 3];
        for (int i = 0; i < 256; i++)
            pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = (byte)i;
        var tensor = new float[3 * 256];
        ImageTensorConverter.ToUnitTensor([new ImageBuffer(256, 1, pixels)], tensor);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 256; i++)
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(tensor[c * 256 + i]));
    }

    [Fact]
    public void ToMaskTensorMatchesDiffusersMaskProcessor()
    {
        // Pillow convert("L") then binarize at 0.5, on 4096 random colours and all 256 gray levels.
        var reference = ImagingReference.Root.GetProperty("mask");
        var mask = new ImageBuffer(reference.GetProperty("width").GetInt32(), reference.GetProperty("height").GetInt32(),
            ImagingReference.Bytes(reference.GetProperty("pixels")));
        float[] expected = ImagingReference.Floats(reference.GetProperty("expected_f32"));
        var tensor = new float[mask.Width * mask.Height];
        ImageTensorConverter.ToMaskTensor(mask, tensor);
        Assert.Equal(expected, tensor);
        Assert.Equal(0f, tensor[127]); // gray 127 -> 0.498 -> 0
        Assert.Equal(1f, tensor[128]); // gray 128 -> 0.502 -> 1
    }

    [Fact]
    public void ToTensorWritesPlanarChannels()
    {
        // 2x1 image: pixel 0 = (255, 0, 0), pixel 1 = (0, 0, 255) -> R plane [1, -1], G plane [-1, -1], B plane [-1, 1].
        var image = new ImageBuffer(2, 1, [255, 0, 0, 0, 0, 255]);
        var tensor = new float[6];
        ImageTensorConverter.ToTensor(image, tensor);
        Assert.Equal([1f, -1f, -1f, -1f, -1f, 1f], tensor);
    }

    [Fact]
    public void EveryImageSurvivesImageToTensorToImage()
    {
        // Odd sizes cover the chunk tail; 1100 pixels cross two chunk boundaries.
        var random = new Random(7);
        var pixels = new byte[44 * 25 * 3];
        random.NextBytes(pixels);
        var images = new[] { new ImageBuffer(44, 25, pixels), new ImageBuffer(44, 25, (byte[])pixels.Clone()) };
        Array.Reverse(images[1].Pixels);
        var tensor = new float[2 * 3 * 25 * 44];
        ImageTensorConverter.ToTensor(images, tensor);
        ImageBuffer[] back = ImageTensorConverter.FromTensor(tensor, 2, 25, 44);
        Assert.Equal(images[0].Pixels, back[0].Pixels);
        Assert.Equal(images[1].Pixels, back[1].Pixels);
    }

    [Fact]
    public void FromTensorIntoExistingImagesOverwritesThemInBatchOrder()
    {
        var destinations = new[] { new ImageBuffer(1, 1), new ImageBuffer(1, 1) };
        ImageTensorConverter.FromTensor([1f, -1f, 0f, -1f, 1f, 1f], destinations);
        Assert.Equal(new byte[] { 255, 0, 128 }, destinations[0].Pixels);
        Assert.Equal(new byte[] { 0, 255, 255 }, destinations[1].Pixels);
    }

    [Fact]
    public void TensorOfTheWrongLengthIsRejectedWithTheExpectedShape()
    {
        var error = Assert.Throws<ArgumentException>(() => ImageTensorConverter.FromTensor(new float[10], 1, 2, 2));
        Assert.Contains("1x3x2x2 = 12", error.Message);
        Assert.Throws<ArgumentException>(() => ImageTensorConverter.ToTensor(new ImageBuffer(2, 2), new float[13]));
    }

    [Fact]
    public void BatchOfMixedSizesIsRejected()
    {
        var images = new[] { new ImageBuffer(2, 2), new ImageBuffer(2, 3) };
        Assert.Throws<ArgumentException>(() => ImageTensorConverter.ToTensor(images, new float[24]));
        Assert.Throws<ArgumentException>(() => ImageTensorConverter.FromTensor(new float[24], images));
    }
}
