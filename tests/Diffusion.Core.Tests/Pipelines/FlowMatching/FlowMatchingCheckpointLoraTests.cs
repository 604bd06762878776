using Diffusion.Core.Adapters;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// FLUX.1 LoRAs in the key styles they are published in: kohya's (<c>lora_unet_double_blocks_0_img_attn_qkv</c>,
/// <c>lora_te1_…</c>) and ComfyUI's (<c>diffusion_model.double_blocks.0.img_attn.qkv</c>), which name Black Forest Labs'
/// fused layers. Each must give what the same file converted by diffusers' <c>_convert_kohya_flux_lora_to_diffusers</c>
/// gives (tools/reference-data/flow-pipelines/generate_checkpoint_loras.py): every module kind of FLUX.1, a block-diagonal
/// qkv that diffusers splits by rank, the final modulation whose halves the two layouts order differently, on a diffusers
/// folder and on a Black Forest Labs single file.
/// </summary>
public sealed class FlowMatchingCheckpointLoraTests
{
    private const float Multiplier = 0.8f;

    [Fact]
    public void A_kohya_flux_lora_equals_its_diffusers_conversion_and_applies_every_module()
    {
        GenerationOptions options = TinyFlowModels.Options("flux-dev-lora");
        GenerationResult kohya = Generate(TinyFlowModels.FluxDev, null, "flux-dev-kohya-lora", options);
        GenerationResult converted = Generate(TinyFlowModels.FluxDev, null, "flux-dev-kohya-lora-diffusers", options);
        TinyFlowModels.AssertClose(converted.Latents, kohya.Latents, 2e-5f, "latents");

        LoraApplicationReport transformer = Assert.Single(kohya.LoraReports, r => r.Target == LoraTarget.Transformer);
        Assert.Equal(22, transformer.MatchedModules.Count);
        Assert.Empty(transformer.UnmatchedKeys);
        Assert.Contains(transformer.MatchedModules, m => m.EndsWith(
            "lora_unet_single_blocks_0_linear1 -> single_transformer_blocks.0.attn.to_q.weight, single_transformer_blocks.0.attn.to_k.weight, " +
            "single_transformer_blocks.0.attn.to_v.weight, single_transformer_blocks.0.proj_mlp.weight", StringComparison.Ordinal));
        LoraApplicationReport clip = Assert.Single(kohya.LoraReports, r => r.Target == LoraTarget.TextEncoder);
        Assert.Equal(2, clip.MatchedModules.Count);

        using FlowMatchingPipeline plain = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev);
        float[] without = plain.Generate(options).Latents;
        Assert.True(without.Zip(kohya.Latents).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f, "the LoRA changed nothing");
    }

    [Fact]
    public void A_comfyui_flux_lora_on_a_bfl_single_file_equals_its_diffusers_conversion_on_the_folder()
    {
        GenerationOptions options = TinyFlowModels.Options("flux-schnell");
        GenerationResult comfy = Generate(TinyFlowModels.Path("flux-schnell-bfl.safetensors"), TinyFlowModels.FluxSchnell,
            "flux-schnell-comfy-lora", options);
        GenerationResult converted = Generate(TinyFlowModels.FluxSchnell, null, "flux-schnell-comfy-lora-diffusers", options);
        TinyFlowModels.AssertClose(converted.Latents, comfy.Latents, 2e-5f, "latents");
        LoraApplicationReport transformer = Assert.Single(comfy.LoraReports, r => r.Target == LoraTarget.Transformer);
        Assert.Equal(21, transformer.MatchedModules.Count);
        Assert.Empty(transformer.UnmatchedKeys);
    }

    [Fact]
    public void A_diffusers_lora_on_a_bfl_single_file_swaps_the_final_modulations_halves_as_the_file_stores_them()
    {
        GenerationOptions options = TinyFlowModels.Options("flux-schnell");
        GenerationResult file = Generate(TinyFlowModels.Path("flux-schnell-bfl.safetensors"), TinyFlowModels.FluxSchnell,
            "flux-schnell-comfy-lora-diffusers", options);
        GenerationResult folder = Generate(TinyFlowModels.FluxSchnell, null, "flux-schnell-comfy-lora-diffusers", options);
        TinyFlowModels.AssertClose(folder.Latents, file.Latents, 2e-5f, "latents");
    }

    [Fact]
    public void A_kohya_sd3_lora_in_stability_names_equals_its_split_into_diffusers_layers_on_a_folder_and_a_sai_file()
    {
        GenerationOptions options = TinyFlowModels.Options("sd3-batch");
        GenerationResult peftOnFolder = Generate(TinyFlowModels.Sd3, null, "sd3-kohya-lora-diffusers", options);
        GenerationResult kohyaOnFolder = Generate(TinyFlowModels.Sd3, null, "sd3-kohya-lora", options);
        GenerationResult kohyaOnFile = Generate(TinyFlowModels.Path("sd3-sai.safetensors"), TinyFlowModels.Sd3, "sd3-kohya-lora", options);
        GenerationResult peftOnFile = Generate(TinyFlowModels.Path("sd3-sai.safetensors"), TinyFlowModels.Sd3, "sd3-kohya-lora-diffusers", options);
        TinyFlowModels.AssertClose(peftOnFolder.Latents, kohyaOnFolder.Latents, 2e-5f, "kohya on the folder");
        TinyFlowModels.AssertClose(peftOnFolder.Latents, kohyaOnFile.Latents, 2e-5f, "kohya on the SAI file");
        TinyFlowModels.AssertClose(peftOnFolder.Latents, peftOnFile.Latents, 2e-5f, "diffusers keys on the SAI file");
        LoraApplicationReport transformer = Assert.Single(kohyaOnFolder.LoraReports, r => r.Target == LoraTarget.Transformer);
        Assert.Equal(12, transformer.MatchedModules.Count);
        Assert.Empty(transformer.UnmatchedKeys);

        using FlowMatchingPipeline plain = FlowMatchingPipeline.Load(TinyFlowModels.Sd3);
        Assert.True(plain.Generate(options).Latents.Zip(kohyaOnFolder.Latents).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f, "the LoRA changed nothing");
    }

    [Fact]
    public void A_kohya_flux_lora_on_a_unet_model_is_refused()
    {
        var error = Assert.Throws<InvalidOptionException>(() => StableDiffusionPipeline.Load(TinySd.Folder,
            new PipelineSettings { Loras = [new LoraFile(TinyFlowModels.Path("flux-dev-kohya-lora.safetensors"))] }));
        Assert.Equal(nameof(PipelineSettings.Loras), error.OptionName);
    }

    private static GenerationResult Generate(string model, string? config, string lora, GenerationOptions options)
    {
        var settings = new PipelineSettings { ConfigDirectory = config, Loras = [new LoraFile(TinyFlowModels.Path(lora + ".safetensors"), Multiplier)] };
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(model, settings);
        return pipeline.Generate(options);
    }
}
