using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// A single-file transformer as model sites publish it (BFL's FLUX.1 layout with ComfyUI's prefix, SAI's SD3 layout) with a
/// diffusers folder of the same model for the rest: the same results as the folder itself.
/// </summary>
public sealed class FlowMatchingSingleFileTests
{
    [Fact]
    public void A_bfl_flux_file_with_the_folder_as_config_matches_diffusers()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Path("flux-schnell-bfl.safetensors"),
            new PipelineSettings { ConfigDirectory = TinyFlowModels.FluxSchnell });
        Assert.Contains("flux-schnell-bfl.safetensors", pipeline.Transformer.ModelPath, StringComparison.Ordinal);
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options("flux-schnell"));
        TinyFlowModels.AssertClose(TinyFlowModels.Latents("flux-schnell"), result.Latents, 1e-4f, "latents");
        TinyFlowModels.AssertPixels("flux-schnell", result.Images);
    }

    [Fact]
    public void An_sai_sd3_file_reads_its_shape_from_its_tensors_when_the_config_folder_has_no_transformer()
    {
        string config = TinyFlowModels.CopyWithout(TinyFlowModels.Sd3, "transformer");
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Path("sd3-sai.safetensors"), new PipelineSettings { ConfigDirectory = config });
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options("sd3"));
        TinyFlowModels.AssertClose(TinyFlowModels.Latents("sd3"), result.Latents, 1e-4f, "latents");
        TinyFlowModels.AssertPixels("sd3", result.Images);
    }

    [Fact]
    public void A_single_file_without_a_config_directory_is_refused_naming_the_setting()
    {
        var error = Assert.Throws<InvalidOptionException>(() => FlowMatchingPipeline.Load(TinyFlowModels.Path("flux-schnell-bfl.safetensors")));
        Assert.Equal(nameof(PipelineSettings.ConfigDirectory), error.OptionName);
    }

    [Fact]
    public void A_flux_file_with_an_sd3_config_folder_is_refused_naming_both()
    {
        var error = Assert.Throws<ModelLoadException>(() => FlowMatchingPipeline.Load(TinyFlowModels.Path("flux-schnell-bfl.safetensors"),
            new PipelineSettings { ConfigDirectory = TinyFlowModels.Sd3 }));
        Assert.Contains("FLUX.1 transformer", error.Message, StringComparison.Ordinal);
        Assert.Contains("Stable Diffusion 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_directory_for_a_model_folder_is_refused()
    {
        var error = Assert.Throws<InvalidOptionException>(() => FlowMatchingPipeline.Load(TinyFlowModels.FluxSchnell,
            new PipelineSettings { ConfigDirectory = TinyFlowModels.FluxSchnell }));
        Assert.Equal(nameof(PipelineSettings.ConfigDirectory), error.OptionName);
    }

    [Fact]
    public void The_unet_pipeline_names_the_flow_pipeline_for_a_transformer_file()
    {
        var error = Assert.Throws<WeightFileException>(() => StableDiffusionPipeline.Load(TinyFlowModels.Path("flux-schnell-bfl.safetensors"),
            new PipelineSettings { ConfigDirectory = TinySd.Folder }));
        Assert.Contains("FlowMatchingPipeline.Load", error.Message, StringComparison.Ordinal);
    }
}
