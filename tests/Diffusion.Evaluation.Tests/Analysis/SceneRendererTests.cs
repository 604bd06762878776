using System.Security.Cryptography;
using System.Text.Json;
using Diffusion.Core.Imaging;
using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Analysis;

public sealed class SceneRendererTests
{
    public static TheoryData<int> RenderIndices()
    {
        var data = new TheoryData<int>();
        int count = LoadRenders().GetArrayLength();
        for (int i = 0; i < count; i++)
            data.Add(i);
        return data;
    }

    // Reference: TestData/analyser/renders.json, the SHA-256 of scenes.render(shape, fg, bg, cx, cy, extent) (uint8
    // H×W×RGB bytes) from tools/train-demo-model/scenes.py, made by tools/reference-data/demo-evaluation/make_analyser_fixture.py.
    [Theory]
    [MemberData(nameof(RenderIndices))]
    public void Render_ReproducesTheTrainersScenesByteForByte(int index)
    {
        JsonElement entry = LoadRenders()[index];
        ImageBuffer image = SceneRenderer.Render(entry.GetProperty("shape").GetString()!, entry.GetProperty("foreground").GetString()!,
            entry.GetProperty("background").GetString()!, entry.GetProperty("cx").GetDouble(), entry.GetProperty("cy").GetDouble(),
            entry.GetProperty("extent").GetDouble());

        Assert.Equal(entry.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(image.Pixels)));
    }

    [Fact]
    public void Render_KeepsACornerShapeOnePixelInsideTheImage()
    {
        // Large (38) top-left: nominal centre 3 + 19 = 22; jitter −2 and extent +2 put it at 20 < 20 + 1, so it is clamped to 21.
        var scene = new SceneAttributes("red", "white", "square", "large", "top left");
        ImageBuffer image = SceneRenderer.Render(scene, extentJitter: 2, centreJitterX: -2, centreJitterY: -2);

        Assert.Equal(SceneRenderer.Render("square", "red", "white", 21, 21, 40).Pixels, image.Pixels);
    }

    private static JsonElement LoadRenders() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.AnalyserData, "renders.json"))).RootElement;
}
