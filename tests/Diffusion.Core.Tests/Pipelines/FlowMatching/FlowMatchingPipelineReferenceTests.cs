using Diffusion.Core.Families;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// FLUX.1 (schnell, dev) and SD3.5 text-to-image from diffusers safetensors folders (every graph built in C#) against a
/// line-by-line transcription of diffusers' FluxPipeline / StableDiffusion3Pipeline over diffusers' own transformer, VAE
/// and scheduler classes (tools/reference-data/flow-pipelines/): final latents to 1e-4, pixels within one level.
/// </summary>
public sealed class FlowMatchingPipelineReferenceTests
{
    [Theory]
    [InlineData("flux-schnell")]
    [InlineData("flux-schnell-wide")]
    [InlineData("flux-dev")]
    [InlineData("flux-dev-guidance")]
    [InlineData("sd3")]
    [InlineData("sd3-batch")]
    [InlineData("sd3-unguided")]
    [InlineData("flux-dev-true-cfg")]
    [InlineData("flux-schnell-true-cfg")]
    [InlineData("flux-dev-img2img")]
    [InlineData("flux-schnell-img2img")]
    [InlineData("sd3-img2img")]
    [InlineData("flux-dev-inpaint")]
    [InlineData("flux-schnell-inpaint")]
    [InlineData("sd3-inpaint")]
    [InlineData("sd3-inpaint-strength")]
    [InlineData("sd3-slg")]
    public void Text_to_image_image_to_image_and_inpainting_match_diffusers(string name)
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Folder(name));
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options(name));
        int[] shape = TinyFlowModels.Case(name).GetProperty("latents_shape").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        Assert.Equal(shape, result.LatentShape);
        float[] timesteps = TinyFlowModels.Case(name).GetProperty("timesteps").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        ReadOnlySpan<float> all = pipeline.Scheduler.Timesteps;
        Assert.Equal(timesteps, all[(all.Length - timesteps.Length)..].ToArray()); // image-to-image: the kept tail
        Assert.Equal(timesteps.Length, result.DenoisingSteps);
        TinyFlowModels.AssertClose(TinyFlowModels.Latents(name), result.Latents, 1e-4f, "latents");
        TinyFlowModels.AssertPixels(name, result.Images);
    }

    /// <summary>The same modules exported by torch.onnx.export in optimum's layout: the ONNX route gives the same results.</summary>
    [Theory]
    [InlineData("tiny-flux-dev-onnx", "flux-dev")]
    [InlineData("tiny-flux-dev-onnx", "flux-dev-guidance")]
    [InlineData("tiny-sd3-onnx", "sd3")]
    public void An_onnx_export_folder_matches_diffusers_too(string folder, string name)
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Path(folder));
        Assert.EndsWith("model.onnx", pipeline.Transformer.ModelPath, StringComparison.Ordinal);
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options(name));
        TinyFlowModels.AssertClose(TinyFlowModels.Latents(name), result.Latents, 1e-4f, "latents");
        TinyFlowModels.AssertPixels(name, result.Images);
    }

    [Fact]
    public void Sd3_without_text_encoder_3_conditions_on_zeros_in_t5s_place_as_diffusers()
    {
        string folder = TinyFlowModels.CopyWithout(TinyFlowModels.Sd3, "text_encoder_3", "tokenizer_3");
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(folder);
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options("sd3-no-t5"));
        TinyFlowModels.AssertClose(TinyFlowModels.Latents("sd3-no-t5"), result.Latents, 1e-4f, "latents");
        TinyFlowModels.AssertPixels("sd3-no-t5", result.Images);
    }

    [Theory]
    [InlineData(MemoryMode.Sequential, ClassifierFreeGuidanceMode.Auto)]
    [InlineData(MemoryMode.KeepLoaded, ClassifierFreeGuidanceMode.Separate)]
    public void Sequential_memory_and_separate_guidance_give_the_same_latents(MemoryMode memory, ClassifierFreeGuidanceMode guidance)
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Sd3, new PipelineSettings { MemoryMode = memory, GuidanceMode = guidance });
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options("sd3-batch"));
        TinyFlowModels.AssertClose(TinyFlowModels.Latents("sd3-batch"), result.Latents, 1e-4f, "latents");
        GenerationResult again = pipeline.Generate(TinyFlowModels.Options("sd3-batch"));
        Assert.Equal(result.Latents, again.Latents);
    }

    [Theory]
    [InlineData("tiny-flux-schnell", "FLUX.1", false)]
    [InlineData("tiny-flux-dev", "FLUX.1", true)]
    [InlineData("tiny-sd3", "Stable Diffusion 3/3.5", false)]
    public void A_folder_loads_as_its_family(string folder, string family, bool embedsGuidance)
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Path(folder));
        Assert.Equal(family, pipeline.Family.Name);
        Assert.Equal(embedsGuidance, pipeline.Transformer.TakesGuidance);
        Assert.Equal(pipeline.Family == ModelFamily.Flux, pipeline.Transformer.TakesPackedLatents);
        Assert.Equal(pipeline.Family == ModelFamily.Flux ? (0.3611f, 0.1159f) : (1.5305f, 0.0609f), (pipeline.VaeScalingFactor, pipeline.VaeShiftFactor));
    }
}
