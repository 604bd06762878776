using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// All-in-one single files (transformer, text encoders and VAE in one .safetensors, the key layouts diffusers'
/// single_file_utils reads; tools/reference-data/flow-pipelines/generate_flow_all_in_one.py) with a config folder that
/// holds no weights at all: the same results as the tiny folders the files were made from.
/// </summary>
public sealed class FlowMatchingAllInOneTests
{
    [Theory]
    [InlineData("sd3-all-in-one.safetensors", "tiny-sd3", "sd3")]
    [InlineData("flux-schnell-all-in-one.safetensors", "tiny-flux-schnell", "flux-schnell")]
    [InlineData("flux-schnell-all-in-one.safetensors", "tiny-flux-schnell", "flux-schnell-img2img")]
    public void An_all_in_one_file_with_a_weightless_config_folder_matches_diffusers(string file, string folder, string name)
    {
        string config = TinyFlowModels.ConfigsOnly(TinyFlowModels.Path(folder));
        Assert.Empty(Directory.EnumerateFiles(config, "*.safetensors", SearchOption.AllDirectories));
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Path(file), new PipelineSettings { ConfigDirectory = config });
        Assert.Contains(file, pipeline.VaeDecoder.ModelPath, StringComparison.Ordinal);
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options(name));
        TinyFlowModels.AssertClose(TinyFlowModels.Latents(name), result.Latents, 1e-4f, "latents");
        TinyFlowModels.AssertPixels(name, result.Images);
    }

    [Fact]
    public void A_component_in_the_file_without_its_config_in_the_folder_is_refused_naming_the_config()
    {
        string config = TinyFlowModels.CopyWithout(TinyFlowModels.ConfigsOnly(TinyFlowModels.Sd3), "text_encoder_3");
        var error = Assert.Throws<ModelLoadException>(() => FlowMatchingPipeline.Load(TinyFlowModels.Path("sd3-all-in-one.safetensors"),
            new PipelineSettings { ConfigDirectory = config }));
        Assert.EndsWith(Path.Combine("text_encoder_3", "config.json"), error.Path, StringComparison.Ordinal);
    }

    [Fact]
    public void A_transformer_only_file_still_needs_the_folders_weights_and_names_the_missing_one()
    {
        string config = TinyFlowModels.ConfigsOnly(TinyFlowModels.FluxSchnell);
        var error = Assert.Throws<ModelLoadException>(() => FlowMatchingPipeline.Load(TinyFlowModels.Path("flux-schnell-bfl.safetensors"),
            new PipelineSettings { ConfigDirectory = config }));
        Assert.Contains("text_encoder", error.Path, StringComparison.Ordinal);
    }
}
