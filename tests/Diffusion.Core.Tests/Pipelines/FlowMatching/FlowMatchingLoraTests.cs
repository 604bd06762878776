using Diffusion.Core.Adapters;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// A diffusers/PEFT-keyed LoRA on FLUX.1's transformer and CLIP, merged at load, against diffusers' pipeline run on the
/// modules with W + m·B·A merged (tools/reference-data/flow-pipelines/, case flux-dev-lora).
/// </summary>
public sealed class FlowMatchingLoraTests
{
    [Fact]
    public void A_transformer_and_clip_lora_matches_diffusers_with_the_lora_merged()
    {
        var settings = new PipelineSettings { Loras = [new LoraFile(TinyFlowModels.Path("flux-dev-lora.safetensors"), 0.8f)] };
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev, settings);
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options("flux-dev-lora"));
        TinyFlowModels.AssertClose(TinyFlowModels.Latents("flux-dev-lora"), result.Latents, 1e-4f, "latents");
        TinyFlowModels.AssertPixels("flux-dev-lora", result.Images);
        LoraApplicationReport transformer = Assert.Single(result.LoraReports, r => r.Target == LoraTarget.Transformer);
        Assert.Equal(4, transformer.MatchedModules.Count);
        Assert.Empty(transformer.UnmatchedKeys);
        Assert.Equal(2, Assert.Single(result.LoraReports, r => r.Target == LoraTarget.TextEncoder).MatchedModules.Count);
    }

    [Fact]
    public void Without_the_lora_the_same_call_differs()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev);
        GenerationResult result = pipeline.Generate(TinyFlowModels.Options("flux-dev-lora"));
        float[] merged = TinyFlowModels.Latents("flux-dev-lora");
        Assert.True(result.Latents.Zip(merged).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f);
        Assert.Empty(result.LoraReports);
    }

    [Fact]
    public void A_unet_keyed_lora_is_refused_rather_than_applied_to_nothing()
    {
        string kohya = Path.Combine(AppContext.BaseDirectory, "TestData", "graphs", "sd1-adapters", "lora.safetensors");
        var error = Assert.Throws<InvalidOptionException>(() => FlowMatchingPipeline.Load(TinyFlowModels.FluxDev,
            new PipelineSettings { Loras = [new LoraFile(kohya)] }));
        Assert.Equal(nameof(PipelineSettings.Loras), error.OptionName);
    }

    [Fact]
    public void A_transformer_lora_on_a_unet_model_is_refused()
    {
        var error = Assert.Throws<InvalidOptionException>(() => StableDiffusionPipeline.Load(TinySd.Folder,
            new PipelineSettings { Loras = [new LoraFile(TinyFlowModels.Path("flux-dev-lora.safetensors"))] }));
        Assert.Equal(nameof(PipelineSettings.Loras), error.OptionName);
    }
}
