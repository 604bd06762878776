using System.Text.Json;
using Diffusion.Core.Imaging;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Pipelines.Sdxl;

/// <summary>
/// The tiny SDXL folders of TestData/sdxl (base, refiner, UNet variants) and the reference outputs of a transcription of
/// diffusers' SDXL pipelines over the same torch modules, all written by tools/reference-data/sdxl/generate_tiny_sdxl.py.
/// </summary>
internal static class TinySdxl
{
    public static string Path(params string[] parts) => System.IO.Path.Combine([AppContext.BaseDirectory, "TestData", "sdxl", .. parts]);

    public static string BaseFolder => Path("tiny-sdxl");

    public static string RefinerFolder => Path("tiny-sdxl-refiner");

    public static string Variant(string name) => Path("tiny-sdxl-variants", name, "model.onnx");

    public static StableDiffusionPipeline LoadBase(PipelineSettings? settings = null)
        => StableDiffusionPipeline.Load(BaseFolder, settings ?? new PipelineSettings { Session = TinySd.Session });

    public static StableDiffusionPipeline LoadRefiner(PipelineSettings? settings = null)
        => StableDiffusionPipeline.Load(RefinerFolder, settings ?? new PipelineSettings { Session = TinySd.Session });

    public static float[] Floats(string name)
    {
        byte[] bytes = File.ReadAllBytes(Path("tiny-sdxl-reference", name + ".f32"));
        float[] values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    public static byte[] Pixels(string name) => File.ReadAllBytes(Path("tiny-sdxl-reference", name + ".rgb"));

    public static JsonElement Case(string name) => JsonDocument.Parse(File.ReadAllText(Path("tiny-sdxl-reference", name + ".json"))).RootElement;

    /// <summary>The reference case's scheduler config (schedulers.json) as a scheduler.</summary>
    public static IScheduler Scheduler(string name)
    {
        string json = JsonDocument.Parse(File.ReadAllText(Path("tiny-sdxl-reference", "schedulers.json"))).RootElement.GetProperty(name).GetRawText();
        return SchedulerCatalog.CreateFromConfig(SchedulerConfig.FromJson(json, "schedulers.json:" + name));
    }

    /// <summary>The 64×64 init picture of the image-to-image cases.</summary>
    public static ImageBuffer InitImage() => new(64, 64, Pixels("init-image"));

    /// <summary>The options of a reference case: prompt, guidance, steps, seed, size, images, strength, denoising start/end.</summary>
    public static GenerationOptions Options(string name)
    {
        JsonElement c = Case(name);
        return new GenerationOptions
        {
            Prompt = c.GetProperty("prompt").GetString()!,
            NegativePrompt = c.GetProperty("negative_prompt").GetString() ?? string.Empty,
            GuidanceScale = c.GetProperty("guidance_scale").GetSingle(),
            Steps = c.GetProperty("steps").GetInt32(),
            Seed = c.GetProperty("seed").GetUInt64(),
            Width = c.GetProperty("width").GetInt32(),
            Height = c.GetProperty("height").GetInt32(),
            ImagesPerPrompt = c.GetProperty("images_per_prompt").GetInt32(),
            DenoisingEnd = c.GetProperty("denoising_end").ValueKind == JsonValueKind.Null ? null : c.GetProperty("denoising_end").GetDouble(),
            DenoisingStart = c.GetProperty("denoising_start").ValueKind == JsonValueKind.Null ? null : c.GetProperty("denoising_start").GetDouble(),
        };
    }

    public static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            float difference = Math.Abs(expected[i] - actual[i]);
            if (difference > worst)
                (worst, at) = (difference, i);
        }
        Assert.True(worst <= tolerance, $"{what}: max |diff| {worst} at {at} (reference {(at >= 0 ? expected[at] : 0)}, ours {(at >= 0 ? actual[at] : 0)}) > {tolerance}");
    }

    /// <summary>The images' RGB bytes differ from the reference's by at most one level (float rounding at .5).</summary>
    public static void AssertPixels(string name, IReadOnlyList<ImageBuffer> images)
    {
        byte[] expected = Pixels(name);
        byte[] actual = images.SelectMany(i => i.Pixels).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        int worst = 0;
        for (int i = 0; i < expected.Length; i++)
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= 1, $"{name}: pixels differ by up to {worst} levels");
    }
}
