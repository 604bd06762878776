using System.Text.Json;
using Diffusion.Core.Imaging;
using Diffusion.Imaging.Skia;
using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Analysis;

public sealed class SceneAnalyserTests
{
    [Fact]
    public void GroundTruthScenes_AreAllReadBackCorrectly()
    {
        // Every drawable combination × size × position, at the nominal geometry and at one jitter extreme taken in
        // turn (extent and centre each ±2, as scenes.py draws them): ANALYSER.md promises 100% on ground truth.
        (int Extent, int X, int Y)[] extremes = [(-2, -2, -2), (-2, 2, 2), (2, -2, 2), (2, 2, -2), (-2, -2, 2), (2, 2, 2), (-2, 2, -2), (2, -2, -2)];
        int scenes = 0;
        var wrong = new List<string>();
        foreach (string shape in SceneGeometry.Shapes)
        foreach (NamedColour foreground in ScenePalette.Foreground)
        foreach (NamedColour background in ScenePalette.Background)
        {
            if (foreground.Name == background.Name)
                continue;
            foreach (string size in SceneGeometry.Sizes)
            foreach (string position in SceneGeometry.Positions)
            {
                var truth = new SceneAttributes(foreground.Name, background.Name, shape, size, position);
                (int e, int x, int y) = extremes[scenes / 2 % extremes.Length];
                foreach ((int E, int X, int Y) jitter in new[] { (0, 0, 0), (e, x, y) })
                {
                    SceneAttributes read = SceneAnalyser.Analyse(SceneRenderer.Render(truth, jitter.E, jitter.X, jitter.Y)).Attributes;
                    scenes++;
                    if (read != truth)
                        wrong.Add($"{truth} (jitter {jitter}) read as {read}");
                }
            }
        }

        Assert.Equal(69 * 2 * 5 * 2, scenes); // 72 combinations less the 3 blue-on-blue ones
        Assert.Empty(wrong);
    }

    public static TheoryData<string> FixtureImages()
    {
        var data = new TheoryData<string>();
        foreach (JsonElement entry in LoadReadings().EnumerateArray())
            data.Add(entry.GetProperty("file").GetString()!);
        return data;
    }

    // Reference: TestData/analyser/readings.json, analyser.analyse (tools/train-demo-model/analyser.py) on noisy and
    // stray-pixel ground truth, rule edge cases and generated samples; made by make_analyser_fixture.py.
    [Theory]
    [MemberData(nameof(FixtureImages))]
    public void Analyse_GivesThePythonAnalysersReading(string file)
    {
        JsonElement expected = FindReading(file);
        SceneReading reading = SceneAnalyser.Analyse(SkiaImageCodec.Load(Path.Combine(TestPaths.AnalyserData, "images", file)));

        JsonElement found = expected.GetProperty("found");
        Assert.Equal(
            new SceneAttributes(found.GetProperty("foreground").GetString(), found.GetProperty("background").GetString(),
                found.GetProperty("shape").GetString(), found.GetProperty("size").GetString(), found.GetProperty("position").GetString()),
            reading.Attributes);
        JsonElement median = expected.GetProperty("background_median");
        Assert.Equal((median[0].GetDouble(), median[1].GetDouble(), median[2].GetDouble()), reading.BackgroundRgb);
        Assert.Equal(expected.GetProperty("foreground_pixels").GetInt32(), reading.ForegroundPixels);
        JsonElement fill = expected.GetProperty("fill");
        Assert.Equal(fill.ValueKind == JsonValueKind.Null ? null : fill.GetDouble(), reading.Fill);
    }

    [Fact]
    public void Analyse_FindsNoShapeBelowTwentyForegroundPixels()
    {
        var image = Flat(64, 64, 128, 128, 128);
        for (int x = 10; x < 29; x++)
            SetPixel(image, x, 10, 230, 30, 30); // 19 pixels

        SceneReading reading = SceneAnalyser.Analyse(image);

        Assert.Equal(new SceneAttributes(null, "gray", null, null, null), reading.Attributes);
        Assert.Equal(19, reading.ForegroundPixels);
    }

    [Fact]
    public void Analyse_IgnoresRowsAndColumnsWithASingleStrayPixel()
    {
        var image = SceneRenderer.Render("square", "red", "white", 32, 32, 20);
        SetPixel(image, 2, 60, 230, 30, 30); // its row and column hold one foreground pixel each

        SceneReading reading = SceneAnalyser.Analyse(image);

        Assert.Equal(new SceneAttributes("red", "white", "square", "small", "center"), reading.Attributes);
        Assert.Equal(1.0, reading.Fill);
    }

    [Fact]
    public void NearestColour_BreaksTiesTowardsTheEarlierPaletteEntry()
    {
        // The midpoint of gray and blue, (79, 99, 179), is equally far from both (and farther from white and black).
        NamedColour gray = ScenePalette.Background[2], blue = ScenePalette.Background[3];
        double r = (gray.R + blue.R) / 2.0, g = (gray.G + blue.G) / 2.0, b = (gray.B + blue.B) / 2.0;

        Assert.Equal("gray", ScenePalette.Nearest(ScenePalette.Background, r, g, b).Name);
    }

    [Fact]
    public void Downscale_AveragesBlocksSoA128PixelSceneReadsLikeIts64PixelOriginal()
    {
        ImageBuffer small = SceneRenderer.Render(new SceneAttributes("orange", "black", "triangle", "large", "bottom right"));
        var large = new ImageBuffer(128, 128);
        for (int y = 0; y < 128; y++)
        {
            for (int x = 0; x < 128; x++)
                Array.Copy(small.Pixels, ((y / 2) * 64 + x / 2) * 3, large.Pixels, (y * 128 + x) * 3, 3);
        }

        Assert.Equal(small.Pixels, SceneAnalyser.Downscale(large).Pixels);
    }

    private static ImageBuffer Flat(int width, int height, byte r, byte g, byte b)
    {
        var image = new ImageBuffer(width, height);
        for (int i = 0; i < width * height; i++)
            (image.Pixels[3 * i], image.Pixels[3 * i + 1], image.Pixels[3 * i + 2]) = (r, g, b);
        return image;
    }

    private static void SetPixel(ImageBuffer image, int x, int y, byte r, byte g, byte b)
    {
        int i = (y * image.Width + x) * 3;
        (image.Pixels[i], image.Pixels[i + 1], image.Pixels[i + 2]) = (r, g, b);
    }

    private static JsonElement LoadReadings() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.AnalyserData, "readings.json"))).RootElement;

    private static JsonElement FindReading(string file)
    {
        foreach (JsonElement entry in LoadReadings().EnumerateArray())
        {
            if (entry.GetProperty("file").GetString() == file)
                return entry;
        }
        throw new InvalidOperationException($"No reading for {file} in readings.json.");
    }
}
