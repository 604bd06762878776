using System.Text.Json;
using Diffusion.Core.Imaging;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Pipelines.Sdxl;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// The tiny FLUX.1 and SD3 folders and what diffusers' pipelines made of them
/// (tools/reference-data/flow-pipelines/generate_tiny_flow_pipelines.py): each case's call in its JSON, final latents
/// (.f32) and decoded pixels (.rgb).
/// </summary>
internal static class TinyFlowModels
{
    public static string Path(params string[] parts) => System.IO.Path.Combine([AppContext.BaseDirectory, "TestData", "flow-pipelines", .. parts]);

    public static string FluxSchnell => Path("tiny-flux-schnell");

    public static string FluxDev => Path("tiny-flux-dev");

    public static string Sd3 => Path("tiny-sd3");

    public static JsonElement Case(string name) => JsonDocument.Parse(File.ReadAllText(Path("reference", name + ".json"))).RootElement;

    public static float[] Latents(string name)
    {
        byte[] bytes = File.ReadAllBytes(Path("reference", name + "-latents.f32"));
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    /// <summary>The folder a case ran on.</summary>
    public static string Folder(string name) => Path(Case(name).GetProperty("model").GetString()!);

    /// <summary>The case's call as generation options.</summary>
    public static GenerationOptions Options(string name)
    {
        JsonElement c = Case(name);
        return new GenerationOptions
        {
            Prompt = c.GetProperty("prompt").GetString()!,
            NegativePrompt = c.TryGetProperty("negative_prompt", out JsonElement negative) && negative.ValueKind == JsonValueKind.String ? negative.GetString()! : string.Empty,
            // diffusers ignores guidance_scale for schnell (no guidance embedder); this library refuses one there, so none is given.
            GuidanceScale = c.GetProperty("model").GetString() == "tiny-flux-schnell" ? null : c.GetProperty("guidance_scale").GetSingle(),
            Steps = c.GetProperty("steps").GetInt32(),
            Seed = c.GetProperty("seed").GetUInt64(),
            Width = c.GetProperty("width").GetInt32(),
            Height = c.GetProperty("height").GetInt32(),
            ImagesPerPrompt = c.GetProperty("images_per_prompt").GetInt32(),
            MaxSequenceLength = c.GetProperty("max_sequence_length").GetInt32(),
            InitImage = c.TryGetProperty("init_image", out JsonElement image)
                ? new ImageBuffer(c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32(), File.ReadAllBytes(Path("reference", image.GetString() + ".rgb")))
                : null,
            Mask = c.TryGetProperty("mask_image", out JsonElement mask)
                ? new ImageBuffer(c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32(), File.ReadAllBytes(Path("reference", mask.GetString() + ".rgb")))
                : null,
            Strength = c.TryGetProperty("strength", out JsonElement strength) ? strength.GetDouble() : null,
            TrueCfgScale = c.TryGetProperty("true_cfg_scale", out JsonElement trueCfg) ? trueCfg.GetSingle() : null,
            SkipLayerGuidance = c.TryGetProperty("skip_layer_guidance", out JsonElement slg)
                ? new SkipLayerGuidance([.. slg.GetProperty("layers").EnumerateArray().Select(v => v.GetInt32())], slg.GetProperty("scale").GetSingle(),
                    slg.GetProperty("start").GetDouble(), slg.GetProperty("stop").GetDouble())
                : null,
        };
    }

    /// <summary>
    /// A temporary copy of a model folder without <paramref name="leftOut"/> components. Files are copied, not linked: ONNX
    /// Runtime refuses external data (the safetensors) that resolves outside the built model's folder.
    /// </summary>
    public static string CopyWithout(string source, params string[] leftOut) => Copy(source, relative =>
        leftOut.Any(component => relative.StartsWith(component + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal)));

    /// <summary>A temporary copy of a model folder's configs and tokenizers without any weights (what a single file's config folder needs).</summary>
    public static string ConfigsOnly(string source) => Copy(source, relative => relative.EndsWith(".safetensors", StringComparison.Ordinal)
        || relative.EndsWith(".onnx", StringComparison.Ordinal));

    private static string Copy(string source, Func<string, bool> leftOut)
    {
        string target = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "diffusion-core-tests", Guid.NewGuid().ToString("N"));
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string relative = System.IO.Path.GetRelativePath(source, file);
            if (leftOut(relative))
                continue;
            string destination = System.IO.Path.Combine(target, relative);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
        return target;
    }

    /// <summary>The images' RGB bytes differ from the reference's by at most one level.</summary>
    public static void AssertPixels(string name, IReadOnlyList<ImageBuffer> images)
    {
        byte[] expected = File.ReadAllBytes(Path("reference", name + ".rgb"));
        byte[] actual = images.SelectMany(i => i.Pixels).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        int worst = 0;
        for (int i = 0; i < expected.Length; i++)
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= 1, $"{name}: pixels differ by up to {worst} levels");
    }

    public static void AssertClose(float[] expected, float[] actual, float tolerance, string what) => TinySdxl.AssertClose(expected, actual, tolerance, what);
}
