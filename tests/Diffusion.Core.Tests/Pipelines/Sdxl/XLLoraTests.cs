using Diffusion.Core.Adapters;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.Sdxl;

/// <summary>
/// SDXL LoRAs on the UNet and both text encoders (TestData/sdxl/tiny-sdxl-lora, written by generate_tiny_sdxl.py with
/// a torch merge W += multiplier·(alpha/rank)·up·down of the same factors as the reference).
/// </summary>
public sealed class XLLoraTests
{
    private static string Lora(string name) => TinySdxl.Path("tiny-sdxl-lora", name + ".safetensors");

    [Theory]
    [InlineData("peft", 0.8f)]
    [InlineData("kohya", 1.0f)]
    public void A_lora_file_on_the_unet_and_both_text_encoders_matches_a_torch_merge(string name, float multiplier)
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, Loras = [new LoraFile(Lora(name), multiplier)] });
        GenerationResult result = pipeline.Generate(TinySdxl.Options("txt2img"));
        Assert.Equal([LoraTarget.UNet, LoraTarget.TextEncoder, LoraTarget.TextEncoder2], result.LoraReports.Select(r => r.Target));
        TinySdxl.AssertClose(TinySdxl.Floats("lora-" + name + "-latents"), result.Latents, 1e-4f, "latents");
        TinySdxl.AssertPixels("lora-" + name, result.Images);
    }

    [Fact]
    public void Kohya_sdxl_files_with_stabilitys_block_names_map_onto_the_same_modules()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, Loras = [new LoraFile(Lora("kohya-sgm"), 1f)] });
        GenerationResult result = pipeline.Generate(TinySdxl.Options("txt2img"));
        Assert.Equal(3, result.LoraReports.Single(r => r.Target == LoraTarget.UNet).MatchedModules.Count);
        TinySdxl.AssertClose(TinySdxl.Floats("lora-kohya-latents"), result.Latents, 1e-4f, "latents");
    }

    [Theory]
    [InlineData("input_blocks_4_1_transformer_blocks_0_attn1_to_q", "down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q")]
    [InlineData("input_blocks_8_1_proj_in", "down_blocks_2_attentions_1_proj_in")]
    [InlineData("input_blocks_3_0_op", "down_blocks_0_downsamplers_0_conv")]
    [InlineData("input_blocks_1_0_in_layers_2", "down_blocks_0_resnets_0_conv1")]
    [InlineData("input_blocks_0_0", "conv_in")]
    [InlineData("middle_block_1_transformer_blocks_3_ff_net_2", "mid_block_attentions_0_transformer_blocks_3_ff_net_2")]
    [InlineData("middle_block_2_skip_connection", "mid_block_resnets_1_conv_shortcut")]
    [InlineData("output_blocks_2_2_conv", "up_blocks_0_upsamplers_0_conv")]
    [InlineData("output_blocks_5_1_proj_out", "up_blocks_1_attentions_2_proj_out")]
    [InlineData("output_blocks_8_0_emb_layers_1", "up_blocks_2_resnets_2_time_emb_proj")]
    [InlineData("label_emb_0_0", "add_embedding_linear_1")]
    public void Sdxl_block_names_follow_diffusers_mapping(string sgm, string diffusers)
        => Assert.Equal(diffusers, SgmBlockNames.ToDiffusers(sgm, layersPerBlock: 2));

    [Fact]
    public void A_prompt_tag_switches_all_three_sessions_and_back()
    {
        string folder = Path.GetDirectoryName(Lora("kohya"))!;
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, LoraDirectory = folder });
        GenerationOptions options = TinySdxl.Options("txt2img");
        GenerationResult tagged = pipeline.Generate(options with { Prompt = options.Prompt + " <lora:kohya:1>" });
        TinySdxl.AssertClose(TinySdxl.Floats("lora-kohya-latents"), tagged.Latents, 1e-4f, "with the tag");
        GenerationResult plain = pipeline.Generate(options);
        Assert.Empty(plain.LoraReports);
        TinySdxl.AssertClose(TinySdxl.Floats("txt2img-latents"), plain.Latents, 1e-4f, "without it");
    }
}
