using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Core.Tests.Pipelines;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Models;

/// <summary>
/// SDXL's added conditioning bound by name: TestData/sdxl/unet is diffusers' own UNet2DConditionModel with
/// addition_embed_type "text_time" at a tiny configuration, exported to optimum's SDXL UNet contract by
/// tools/reference-data/sdxl/generate_sdxl_unet.py, with one torch forward pass as the reference.
/// </summary>
public sealed class UNetConditioningTests
{
    private static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "TestData", "sdxl", .. parts]);

    private static float[] Reference(string name)
    {
        byte[] bytes = File.ReadAllBytes(Fixture("reference", name + ".f32"));
        float[] values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    [Fact]
    public void An_sdxl_unet_declares_text_embeds_and_time_ids_and_matches_diffusers_with_them()
    {
        using UNet unet = UNet.Load(Fixture("unet", "model.onnx"), TinySd.Session);
        Assert.Equal(["text_embeds", "time_ids"], unet.ConditioningInputs.Select(i => i.Name));

        float[] output = new float[2 * 4 * 8 * 8];
        var conditioning = new Dictionary<string, Memory<float>>
        {
            ["text_embeds"] = Reference("text_embeds"),
            ["time_ids"] = Reference("time_ids"),
        };
        unet.Predict(Reference("sample"), 2, 8, 8, Reference("timestep")[0], Reference("encoder_hidden_states"), 7, conditioning, output);

        float[] expected = Reference("out_sample");
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - output[i]) <= 1e-4f, $"element {i}: torch {expected[i]}, ours {output[i]}");
    }

    [Fact]
    public void The_time_ids_change_the_prediction()
    {
        // The text_time path is live: different time ids give a different output (so binding them by name matters).
        using UNet unet = UNet.Load(Fixture("unet", "model.onnx"), TinySd.Session);
        float[] a = new float[2 * 4 * 8 * 8], b = new float[a.Length];
        float[] timeIds = Reference("time_ids");
        float[] otherTimeIds = timeIds.Select(v => v + 32f).ToArray();
        unet.Predict(Reference("sample"), 2, 8, 8, 631f, Reference("encoder_hidden_states"), 7,
            new Dictionary<string, Memory<float>> { ["text_embeds"] = Reference("text_embeds"), ["time_ids"] = timeIds }, a);
        unet.Predict(Reference("sample"), 2, 8, 8, 631f, Reference("encoder_hidden_states"), 7,
            new Dictionary<string, Memory<float>> { ["text_embeds"] = Reference("text_embeds"), ["time_ids"] = otherTimeIds }, b);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Predicting_without_the_declared_conditioning_names_it()
    {
        using UNet unet = UNet.Load(Fixture("unet", "model.onnx"), TinySd.Session);
        var error = Assert.Throws<ArgumentException>(() => unet.Predict(Reference("sample"), 2, 8, 8, 631f, Reference("encoder_hidden_states"), 7, new float[2 * 4 * 8 * 8]));
        Assert.Contains("'text_embeds'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Conditioning_the_model_does_not_declare_is_refused()
    {
        using UNet unet = UNet.Load(Fixture("unet", "model.onnx"), TinySd.Session);
        var conditioning = new Dictionary<string, Memory<float>>
        {
            ["text_embeds"] = Reference("text_embeds"),
            ["time_ids"] = Reference("time_ids"),
            ["timestep_cond"] = new float[2 * 8],
        };
        var error = Assert.Throws<ArgumentException>(() => unet.Predict(Reference("sample"), 2, 8, 8, 631f, Reference("encoder_hidden_states"), 7, conditioning, new float[2 * 4 * 8 * 8]));
        Assert.Contains("no conditioning input 'timestep_cond'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_sdxl_unet_without_text_embeds_fails_at_load_naming_it()
    {
        string path = Fixture("unet-missing-text-embeds", "model.onnx");
        var error = Assert.Throws<ModelContractException>(() => UNet.Load(path, TinySd.Session));
        Assert.Equal(path, error.ModelPath);
        Assert.Equal("text_embeds", error.TensorName);
    }

    [Fact]
    public void The_sd_pipeline_refuses_an_sdxl_unet_at_composition()
    {
        string folder = TinySd.Folder;
        using var unet = UNet.Load(Fixture("unet", "model.onnx"), TinySd.Session);
        using var textEncoder = TextEncoder.Load(Path.Combine(folder, "text_encoder", "model.onnx"), TinySd.Session);
        using var vaeDecoder = VaeDecoder.Load(Path.Combine(folder, "vae_decoder", "model.onnx"), TinySd.Session);
        var error = Assert.Throws<ModelContractException>(() => new StableDiffusionPipeline(
            ClipTokenizer.FromDirectory(Path.Combine(folder, "tokenizer")), textEncoder, unet, vaeDecoder,
            SchedulerCatalog.Create("Euler", SchedulerConfig.StableDiffusion15)));
        Assert.Equal("text_embeds", error.TensorName);
        Assert.Contains("Stable Diffusion XL", error.Message, StringComparison.Ordinal);
    }
}
