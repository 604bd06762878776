using Diffusion.Core.Families;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Pipelines;

namespace Diffusion.Core.Tests.Families;

/// <summary>A folder's family comes from model_index.json's _class_name, else the UNet's inputs; a setting overrides both.</summary>
public sealed class ModelFamilyTests
{
    [Theory]
    [InlineData("StableDiffusionPipeline", "Stable Diffusion 1.x/2.x")]
    [InlineData("OnnxStableDiffusionPipeline", "Stable Diffusion 1.x/2.x")]
    [InlineData("ORTStableDiffusionPipeline", "Stable Diffusion 1.x/2.x")]
    [InlineData("OnnxStableDiffusionInpaintPipeline", "Stable Diffusion 1.x/2.x")]
    [InlineData("StableDiffusionXLPipeline", "Stable Diffusion XL")]
    [InlineData("ORTStableDiffusionXLPipeline", "Stable Diffusion XL")]
    [InlineData("StableDiffusionXLImg2ImgPipeline", "Stable Diffusion XL refiner")]
    [InlineData("ORTStableDiffusionXLImg2ImgPipeline", "Stable Diffusion XL refiner")]
    public void Known_pipeline_class_names_and_their_exporter_variants_name_the_family(string className, string family)
        => Assert.Equal(family, ModelFamilyResolver.FromPipelineClassName(className)?.Name);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("MyCustomPipeline")]
    [InlineData("ORTStableDiffusionPipelineX")]
    [InlineData("XStableDiffusionPipeline")]
    public void Unknown_class_names_leave_the_family_to_the_denoiser(string? className)
        => Assert.Null(ModelFamilyResolver.FromPipelineClassName(className));

    [Fact]
    public void Denoiser_inputs_tell_SDXL_from_SD()
    {
        Assert.Same(ModelFamily.StableDiffusionXL, ModelFamilyResolver.FromDenoiserInputs(["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"]));
        Assert.Same(ModelFamily.StableDiffusion, ModelFamilyResolver.FromDenoiserInputs(["sample", "timestep", "encoder_hidden_states"]));
    }

    [Theory]
    [InlineData("StableDiffusionXLPipeline", "tokenizer_2", "Stable Diffusion XL folder")]
    [InlineData("ORTStableDiffusionXLImg2ImgPipeline", "tokenizer_2", "Stable Diffusion XL refiner folder")]
    public void A_folder_named_sdxl_is_loaded_as_sdxl_and_must_have_its_files(string className, string missing, string family)
    {
        string folder = TinySdCopy.Create(("model_index.json", $$"""{"_class_name": "{{className}}", "unet": ["diffusers", "OnnxRuntimeModel"]}"""));

        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session }));

        Assert.EndsWith(missing, error.Path, StringComparison.Ordinal);
        Assert.Contains(family, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_class_name_falls_back_to_the_unets_inputs()
    {
        string folder = TinySdCopy.Create(("model_index.json", """{"_class_name": "SomeoneElsesPipeline"}"""));
        using var pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session });
        Assert.Equal(4, pipeline.UNet.InChannels);
    }

    [Fact]
    public void The_family_setting_overrides_the_class_name()
    {
        string folder = TinySdCopy.Create(("model_index.json", """{"_class_name": "StableDiffusionXLPipeline"}"""));
        using var pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session, Family = ModelFamily.StableDiffusion });
        Assert.Equal(4, pipeline.UNet.InChannels);

        string sd = TinySdCopy.Create();
        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionPipeline.Load(sd, new PipelineSettings { Session = TinySd.Session, Family = ModelFamily.StableDiffusionXL }));
        Assert.EndsWith("tokenizer_2", error.Path, StringComparison.Ordinal);
    }
}
