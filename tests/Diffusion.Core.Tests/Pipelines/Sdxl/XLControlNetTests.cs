using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.Sdxl;

/// <summary>
/// SDXL ControlNet in the split form: diffusers' ControlNetModel.from_unet(the tiny SDXL UNet) exported with
/// text_embeds/time_ids, the same UNet exported with residual inputs, against a transcription of diffusers'
/// StableDiffusionXLControlNetPipeline (tools/reference-data/sdxl/generate_tiny_sdxl.py): final latents to 1e-4.
/// </summary>
public sealed class XLControlNetTests
{
    private static string ControlNetPath => TinySdxl.Variant("controlnet");

    private static StableDiffusionPipeline LoadWithResidualUNet(ClassifierFreeGuidanceMode mode = ClassifierFreeGuidanceMode.Auto)
        => TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, UNetModelPath = TinySdxl.Variant("unet-controlnet"), GuidanceMode = mode });

    /// <summary>The control image of the reference cases: 48×64, used as it is (diffusers' processor gives pixels / 255).</summary>
    private static ImageBuffer ControlImage() => new(48, 64, TinySdxl.Pixels("control-image"));

    private static GenerationOptions Options(string name, ControlNet model)
    {
        System.Text.Json.JsonElement c = TinySdxl.Case(name);
        var unit = new ControlNetUnit
        {
            Model = model,
            Image = ControlImage(),
            ConditioningScale = c.GetProperty("conditioning_scale").GetSingle(),
            GuidanceEnd = c.GetProperty("control_guidance_end").GetDouble(),
            Resize = ControlNetImageResize.None,
        };
        return new GenerationOptions
        {
            Prompt = c.GetProperty("prompt").GetString()!,
            GuidanceScale = c.GetProperty("guidance_scale").GetSingle(),
            Steps = c.GetProperty("steps").GetInt32(),
            Seed = c.GetProperty("seed").GetUInt64(),
            Width = c.GetProperty("width").GetInt32(),
            Height = c.GetProperty("height").GetInt32(),
            ImagesPerPrompt = c.GetProperty("images_per_prompt").GetInt32(),
            ControlNets = [unit],
        };
    }

    [Fact]
    public void An_sdxl_controlnet_declares_text_embeds_and_time_ids()
    {
        using var controlNet = ControlNet.Load(ControlNetPath, TinySd.Session);
        Assert.Equal(["text_embeds", "time_ids"], controlNet.ConditioningInputs.Select(i => i.Name));
        Assert.Equal(4, controlNet.DownBlockResidualOutputs.Count);
    }

    [Fact]
    public void Text_to_image_with_an_sdxl_controlnet_matches_diffusers()
    {
        using StableDiffusionPipeline pipeline = LoadWithResidualUNet();
        using var controlNet = ControlNet.Load(ControlNetPath, TinySd.Session);
        GenerationResult result = pipeline.Generate(Options("controlnet", controlNet));
        TinySdxl.AssertClose(TinySdxl.Floats("controlnet-latents"), result.Latents, 1e-4f, "latents");
    }

    [Theory]
    [InlineData(ClassifierFreeGuidanceMode.Batched)]
    [InlineData(ClassifierFreeGuidanceMode.Separate)]
    public void A_guidance_window_and_two_images_match_diffusers_batched_or_separate(ClassifierFreeGuidanceMode mode)
    {
        using StableDiffusionPipeline pipeline = LoadWithResidualUNet(mode);
        using var controlNet = ControlNet.Load(ControlNetPath, TinySd.Session);
        GenerationResult result = pipeline.Generate(Options("controlnet-window", controlNet));
        TinySdxl.AssertClose(TinySdxl.Floats("controlnet-window-latents"), result.Latents, 1e-4f, "latents");
    }

    [Fact]
    public void A_controlnet_at_scale_zero_leaves_the_residual_unet_equal_to_the_plain_one()
    {
        using StableDiffusionPipeline pipeline = LoadWithResidualUNet();
        using var controlNet = ControlNet.Load(ControlNetPath, TinySd.Session);
        var unit = new ControlNetUnit { Model = controlNet, Image = ControlImage(), ConditioningScale = 0f };
        GenerationResult result = pipeline.Generate(TinySdxl.Options("txt2img") with { ControlNets = [unit] });
        TinySdxl.AssertClose(TinySdxl.Floats("txt2img-latents"), result.Latents, 1e-4f, "latents");
    }

    [Fact]
    public void An_sd_controlnet_with_an_sdxl_unet_is_refused_naming_the_missing_input()
    {
        using StableDiffusionPipeline pipeline = LoadWithResidualUNet();
        using var controlNet = ControlNet.Load(Path.Combine(AppContext.BaseDirectory, "TestData", "controlnet", "controlnet-a", "model.onnx"), TinySd.Session);
        var error = Assert.Throws<ModelContractException>(() => pipeline.Generate(
            TinySdxl.Options("txt2img") with { ControlNets = [new ControlNetUnit { Model = controlNet, Image = ControlImage() }] }));
        Assert.Equal("text_embeds", error.TensorName);
        Assert.Contains("made for SDXL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_sdxl_controlnet_with_an_sd_unet_is_refused_naming_its_added_input()
    {
        using var pipeline = TinySd.WithUNet(Path.Combine(AppContext.BaseDirectory, "TestData", "controlnet", "unet-controlnet", "model.onnx"));
        using var controlNet = ControlNet.Load(ControlNetPath, TinySd.Session);
        var error = Assert.Throws<ModelContractException>(() => pipeline.Generate(
            TinySd.SmallOptions() with { ControlNets = [new ControlNetUnit { Model = controlNet, Image = new ImageBuffer(64, 64) }] }));
        Assert.Equal("text_embeds", error.TensorName);
        Assert.Contains("runs with an SDXL UNet", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_sdxl_controlnet_with_an_sdxl_unet_without_residual_inputs_is_refused()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        using var controlNet = ControlNet.Load(ControlNetPath, TinySd.Session);
        var error = Assert.Throws<ModelContractException>(() => pipeline.Generate(
            TinySdxl.Options("txt2img") with { ControlNets = [new ControlNetUnit { Model = controlNet, Image = ControlImage() }] }));
        Assert.Contains("no ControlNet residual inputs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_controlnet_run_needs_the_added_conditioning_it_declares()
    {
        using var controlNet = ControlNet.Load(ControlNetPath, TinySd.Session);
        ControlNetResiduals residuals = controlNet.CreateResiduals(1, 8, 8);
        var error = Assert.Throws<ArgumentException>(() => controlNet.Run(new float[4 * 64], 1, 8, 8, 999f, new float[77 * 40], 77,
            new float[3 * 64 * 64], 1f, residuals));
        Assert.Contains("text_embeds", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_residual_sizes_follow_layers_per_block_from_the_config_beside_the_model()
    {
        using var controlNet = ControlNet.Load(ControlNetPath, TinySd.Session);
        Assert.Equal(1, controlNet.LayersPerBlock);
        ControlNetResiduals residuals = controlNet.CreateResiduals(2, 8, 6);
        Assert.Equal([2, 16, 8, 6], residuals.GetDownBlockShape(1).ToArray());
        Assert.Equal([2, 16, 4, 3], residuals.GetDownBlockShape(2).ToArray()); // the downsampler's
        Assert.Equal([2, 32, 4, 3], residuals.MidBlockShape.ToArray());
    }

    [Fact]
    public void Without_its_config_a_controlnet_whose_residual_count_does_not_fit_sd_blocks_is_refused()
    {
        string folder = Directory.CreateTempSubdirectory("sdxl-controlnet-").FullName;
        try
        {
            string model = Path.Combine(folder, "model.onnx");
            File.Copy(ControlNetPath, model);
            var error = Assert.Throws<ModelContractException>(() => ControlNet.Load(model, TinySd.Session));
            Assert.Contains("config.json", error.Message, StringComparison.Ordinal);
            Assert.Equal("down_block_res_sample_3", error.TensorName);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(2, new[] { 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3 })] // SD 1.x/2.x: 12 residuals
    [InlineData(1, new[] { 0, 0, 1, 1 })]                           // the tiny SDXL UNet
    public void Residual_levels_put_each_downsampler_one_level_down(int layersPerBlock, int[] levels)
    {
        for (int i = 0; i < levels.Length; i++)
            Assert.Equal(levels[i], ControlNetResidualNames.Level(i, layersPerBlock));
    }
}
