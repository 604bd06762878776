using System.Text.Json;
using Diffusion.Core.Imaging;

namespace Diffusion.Core.Tests.Imaging;

public sealed class CannyEdgeDetectorTests
{
    [Theory]
    [InlineData("coffee_canny_100_200_l1.bits", 100, 200, false)]
    [InlineData("coffee_canny_50_150_l1.bits", 50, 150, false)]
    [InlineData("coffee_canny_100_200_l2.bits", 100, 200, true)]
    public void MatchesTheNumpyReferenceOnAPhoto(string file, double low, double high, bool l2)
    {
        // Reference: tools/reference-data/controlnet/canny_reference.py (numpy transcription of OpenCV's cv2.Canny).
        ImageBuffer photo = Diffusion.Imaging.Skia.SkiaImageCodec.Load(SharedData.Require("images/coffee.png"));
        byte[] packed = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", "controlnet", "canny", file));

        ImageBuffer edges = CannyEdgeDetector.Detect(photo, low, high, l2);

        int pixels = photo.Width * photo.Height, differing = 0, expectedEdges = 0;
        for (int i = 0; i < pixels; i++)
        {
            bool expected = (packed[i >> 3] & (0x80 >> (i & 7))) != 0;
            expectedEdges += expected ? 1 : 0;
            differing += expected != (edges.Pixels[i * 3] == 255) ? 1 : 0;
        }
        Assert.Equal(ExpectedEdgeCount(file), expectedEdges);
        Assert.Equal(0, differing);
    }

    [Fact]
    public void EdgesAreWhiteOnBlackInAllThreeChannels()
    {
        ImageBuffer edges = CannyEdgeDetector.Detect(Step(10, 10), 100, 200);

        for (int i = 0; i < edges.Pixels.Length; i += 3)
        {
            Assert.True(edges.Pixels[i] is 0 or 255);
            Assert.Equal(edges.Pixels[i], edges.Pixels[i + 1]);
            Assert.Equal(edges.Pixels[i], edges.Pixels[i + 2]);
        }
    }

    [Fact]
    public void StepEdgeGivesOneColumnOnItsDarkSide()
    {
        // Columns 0-4 black, 5-9 white: |dx| = 4·255 at columns 4 and 5. OpenCV keeps m > left and m ≥ right,
        // so column 4 survives and column 5 (not > its left neighbour) does not.
        ImageBuffer edges = CannyEdgeDetector.Detect(Step(10, 10), 100, 200);

        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 10; x++)
                Assert.Equal(x == 4 ? 255 : 0, edges.Pixels[(y * 10 + x) * 3]);
    }

    [Fact]
    public void WeakEdgesSurviveOnlyWhenConnectedToStrongOnes()
    {
        // Step of 40 gray levels: |dx| = 160, between the thresholds 100 and 200 → no strong pixel, no edges.
        ImageBuffer weak = Step(10, 10, 40);
        Assert.DoesNotContain((byte)255, CannyEdgeDetector.Detect(weak, 100, 200).Pixels);
        // The same step with a low high-threshold is an edge.
        Assert.Contains((byte)255, CannyEdgeDetector.Detect(weak, 100, 150).Pixels);
    }

    [Fact]
    public void UniformImageHasNoEdges()
    {
        var gray = new ImageBuffer(16, 16, Enumerable.Repeat((byte)128, 16 * 16 * 3).ToArray());

        Assert.DoesNotContain((byte)255, CannyEdgeDetector.Detect(gray, 10, 20).Pixels);
    }

    private static int ExpectedEdgeCount(string file)
    {
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "controlnet", "canny", "canny_reference.json")));
        foreach (JsonElement item in json.RootElement.GetProperty("cases").EnumerateArray())
        {
            if (item.GetProperty("file").GetString() == file)
                return item.GetProperty("edge_pixels").GetInt32();
        }
        throw new InvalidOperationException(file);
    }

    private static ImageBuffer Step(int width, int height, byte bright = 255)
    {
        var image = new ImageBuffer(width, height);
        for (int y = 0; y < height; y++)
            for (int x = width / 2; x < width; x++)
                image.Pixels.AsSpan((y * width + x) * 3, 3).Fill(bright);
        return image;
    }
}
