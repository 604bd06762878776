using Diffusion.Core.Families;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.Sdxl;

/// <summary>
/// The SDXL pipeline against a transcription of diffusers' StableDiffusionXLPipeline / StableDiffusionXLImg2ImgPipeline
/// run on the same torch modules (tools/reference-data/sdxl/generate_tiny_sdxl.py): final latents to 1e-4, decoded
/// pixels within one level.
/// </summary>
public sealed class XLPipelineReferenceTests
{
    [Fact]
    public void A_tiny_sdxl_folder_loads_as_the_sdxl_family_with_both_text_encoders()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        Assert.Same(ModelFamily.StableDiffusionXL, pipeline.Family);
        Assert.NotNull(pipeline.TextEncoder2);
        Assert.Equal(64, pipeline.DefaultImageSize);
        Assert.Equal(0.13025f, pipeline.VaeScalingFactor);
    }

    [Fact]
    public void Text_to_image_without_a_negative_prompt_matches_diffusers()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        GenerationResult result = pipeline.Generate(TinySdxl.Options("txt2img"));
        TinySdxl.AssertClose(TinySdxl.Floats("txt2img-latents"), result.Latents, 1e-4f, "latents");
        TinySdxl.AssertPixels("txt2img", result.Images);
    }

    [Fact]
    public void Text_to_image_with_a_negative_prompt_two_images_and_a_wide_size_matches_diffusers()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        GenerationResult result = pipeline.Generate(TinySdxl.Options("txt2img-negative"));
        Assert.Equal([2, 4, 6, 8], result.LatentShape);
        TinySdxl.AssertClose(TinySdxl.Floats("txt2img-negative-latents"), result.Latents, 1e-4f, "latents");
        TinySdxl.AssertPixels("txt2img-negative", result.Images);
    }
}

/// <summary>The refiner, the base → refiner hand-off and image-to-image against diffusers' img2img pipeline math.</summary>
public sealed class XLRefinerReferenceTests
{
    [Fact]
    public void A_refiner_folder_loads_with_text_encoder_2_only()
    {
        using StableDiffusionPipeline refiner = TinySdxl.LoadRefiner();
        Assert.Same(ModelFamily.StableDiffusionXLRefiner, refiner.Family);
        Assert.Null(refiner.TextEncoder2);
        Assert.EndsWith(Path.Combine("text_encoder_2", "model.onnx"), refiner.TextEncoder.ModelPath, StringComparison.Ordinal);
    }

    [Fact]
    public void The_base_stops_at_denoising_end_and_the_refiner_finishes_from_denoising_start()
    {
        using StableDiffusionPipeline base_ = TinySdxl.LoadBase();
        using StableDiffusionPipeline refiner = TinySdxl.LoadRefiner();
        GenerationResult first = base_.Generate(TinySdxl.Options("handoff-base") with { DecodeImages = false });
        Assert.Empty(first.Images);
        Assert.Equal(4, first.DenoisingSteps); // 6 steps, 0.7: timesteps ≥ 300 of 831 665 499 333 167 1
        TinySdxl.AssertClose(TinySdxl.Floats("handoff-base-latents"), first.Latents, 1e-4f, "base latents");

        GenerationResult second = refiner.Generate(TinySdxl.Options("handoff-refiner") with { InitLatents = first.LatentImage, Width = null, Height = null });
        Assert.Equal(2, second.DenoisingSteps);
        TinySdxl.AssertClose(TinySdxl.Floats("handoff-refiner-latents"), second.Latents, 1e-4f, "refiner latents");
        TinySdxl.AssertPixels("handoff-refiner", second.Images);
    }

    [Fact]
    public void Image_to_image_on_the_base_matches_diffusers()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        GenerationResult result = pipeline.Generate(TinySdxl.Options("img2img") with { InitImage = TinySdxl.InitImage(), Strength = 0.6 });
        TinySdxl.AssertClose(TinySdxl.Floats("img2img-latents"), result.Latents, 1e-4f, "latents");
        TinySdxl.AssertPixels("img2img", result.Images);
    }

    [Fact]
    public void Image_to_image_on_the_refiner_with_aesthetic_scores_matches_diffusers()
    {
        using StableDiffusionPipeline refiner = TinySdxl.LoadRefiner();
        GenerationResult result = refiner.Generate(TinySdxl.Options("refiner-img2img") with { InitImage = TinySdxl.InitImage(), Strength = 0.5 });
        TinySdxl.AssertClose(TinySdxl.Floats("refiner-img2img-latents"), result.Latents, 1e-4f, "latents");
        TinySdxl.AssertPixels("refiner-img2img", result.Images);
    }
}

/// <summary>Distilled settings: an LCM UNet (timestep_cond), Turbo (guidance off, trailing Euler ancestral), Lightning (trailing Euler).</summary>
public sealed class XLDistilledReferenceTests
{
    [Fact]
    public void An_lcm_unet_gets_the_guidance_embedding_and_no_guidance_batch()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, UNetModelPath = TinySdxl.Variant("unet-lcm") });
        Assert.True(pipeline.UNet.TakesGuidanceEmbedding);
        GenerationResult result = pipeline.Generate(TinySdxl.Options("lcm") with { Scheduler = TinySdxl.Scheduler("lcm") });
        TinySdxl.AssertClose(TinySdxl.Floats("lcm-latents"), result.Latents, 1e-4f, "latents");
        TinySdxl.AssertPixels("lcm", result.Images);
    }

    [Theory]
    [InlineData("turbo")]
    [InlineData("lightning")]
    public void Guidance_off_with_a_trailing_schedule_matches_diffusers(string name)
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        GenerationResult result = pipeline.Generate(TinySdxl.Options(name) with { Scheduler = TinySdxl.Scheduler(name) });
        TinySdxl.AssertClose(TinySdxl.Floats(name + "-latents"), result.Latents, 1e-4f, "latents");
        TinySdxl.AssertPixels(name, result.Images);
    }
}

/// <summary>Inpainting against diffusers' StableDiffusionXLInpaintPipeline math, at its default strength 0.9999.</summary>
public sealed class XLInpaintingReferenceTests
{
    [Theory]
    [InlineData("inpaint-9ch", "unet-inpaint")]
    [InlineData("inpaint-4ch", null)]
    public void Inpainting_matches_diffusers_with_a_nine_and_a_four_channel_unet(string name, string? variant)
    {
        var settings = new PipelineSettings { Session = TinySd.Session, UNetModelPath = variant is null ? null : TinySdxl.Variant(variant) };
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase(settings);
        var mask = new Diffusion.Core.Imaging.ImageBuffer(64, 64, TinySdxl.Pixels("inpaint-mask"));
        GenerationResult result = pipeline.Generate(TinySdxl.Options(name) with { InitImage = TinySdxl.InitImage(), Mask = mask });
        Assert.Equal(4, result.DenoisingSteps); // int(5 × 0.9999) = 4: SDXL's default strength skips the first step
        TinySdxl.AssertClose(TinySdxl.Floats(name + "-latents"), result.Latents, 1e-4f, "latents");
        TinySdxl.AssertPixels(name, result.Images);
    }

    [Fact]
    public void Image_to_image_defaults_to_the_families_strength()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        GenerationResult result = pipeline.Generate(new GenerationOptions { Prompt = "a horse", Steps = 10, Seed = 1, InitImage = TinySdxl.InitImage() });
        Assert.Equal(3, result.DenoisingSteps); // diffusers' SDXL img2img default strength 0.3 (SD: 0.8)
    }
}
