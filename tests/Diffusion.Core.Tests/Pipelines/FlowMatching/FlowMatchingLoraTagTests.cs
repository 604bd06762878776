using Diffusion.Core.Adapters;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// A1111 <c>&lt;lora:name:weight&gt;</c> tags on SD3/FLUX.1 with <see cref="PipelineSettings.LoraDirectory"/>: the tag is
/// taken out of the prompt and the LoRA merged for that call, giving diffusers' result with the LoRA merged (case
/// flux-dev-lora); the next call without it is the plain model again; a tag naming another family's LoRA is refused.
/// </summary>
public sealed class FlowMatchingLoraTagTests
{
    [Fact]
    public void A_tag_applies_the_lora_for_its_call_only()
    {
        GenerationOptions options = TinyFlowModels.Options("flux-dev-lora");
        using FlowMatchingPipeline plain = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev);
        float[] without = plain.Generate(options).Latents;

        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev, new PipelineSettings { LoraDirectory = TinyFlowModels.Path() });
        GenerationResult tagged = pipeline.Generate(options with { Prompt = "<lora:flux-dev-lora:0.8>" + options.Prompt });
        TinyFlowModels.AssertClose(TinyFlowModels.Latents("flux-dev-lora"), tagged.Latents, 1e-4f, "latents");
        Assert.Equal(4, Assert.Single(tagged.LoraReports, r => r.Target == LoraTarget.Transformer).MatchedModules.Count);
        Assert.Equal(2, Assert.Single(tagged.LoraReports, r => r.Target == LoraTarget.TextEncoder).MatchedModules.Count);

        GenerationResult untagged = pipeline.Generate(options);
        Assert.Equal(without, untagged.Latents);
        Assert.Empty(untagged.LoraReports);
    }

    [Fact]
    public void A_kohya_tag_reaches_fluxs_fused_layers_as_the_file_given_in_settings_does()
    {
        GenerationOptions options = TinyFlowModels.Options("flux-dev-lora");
        using FlowMatchingPipeline fromSettings = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev,
            new PipelineSettings { Loras = [new LoraFile(TinyFlowModels.Path("flux-dev-kohya-lora.safetensors"), 0.5f)] });
        using FlowMatchingPipeline fromTag = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev, new PipelineSettings { LoraDirectory = TinyFlowModels.Path() });
        Assert.Equal(fromSettings.Generate(options).Latents,
            fromTag.Generate(options with { Prompt = options.Prompt + " <lora:flux-dev-kohya-lora:0.5>" }).Latents);
    }

    [Fact]
    public void A_tag_naming_a_unet_lora_is_refused_by_the_prompt_and_one_naming_a_flux_lora_by_a_unet_pipeline()
    {
        string folder = Directory.CreateTempSubdirectory("mixed-loras-").FullName;
        File.Copy(Path.Combine(AppContext.BaseDirectory, "TestData", "graphs", "sd1-adapters", "lora.safetensors"), Path.Combine(folder, "sd-style.safetensors"));
        File.Copy(TinyFlowModels.Path("flux-dev-lora.safetensors"), Path.Combine(folder, "flux-style.safetensors"));

        using FlowMatchingPipeline flux = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev, new PipelineSettings { LoraDirectory = folder });
        var error = Assert.Throws<InvalidOptionException>(() => flux.Generate(TinyFlowModels.Options("flux-dev-lora") with { Prompt = "<lora:sd-style:1> a cat" }));
        Assert.Equal(nameof(GenerationOptions.Prompt), error.OptionName);
        Assert.Contains("sd-style.safetensors", error.Message, StringComparison.Ordinal);

        using StableDiffusionPipeline sd = TinySd.Load(new PipelineSettings { Session = TinySd.Session, LoraDirectory = folder });
        error = Assert.Throws<InvalidOptionException>(() => sd.Generate(TinySd.SmallOptions() with { Prompt = "<lora:flux-style:1> a cat" }));
        Assert.Equal(nameof(GenerationOptions.Prompt), error.OptionName);
    }
}
