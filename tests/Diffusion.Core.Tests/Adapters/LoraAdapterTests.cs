using Diffusion.Core.Adapters;
using Diffusion.Core.Tests.Weights;

namespace Diffusion.Core.Tests.Adapters;

public class LoraAdapterTests
{
    [Theory]
    [InlineData("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", LoraTarget.UNet, "down_blocks_0_attentions_0_proj_in", false)]
    [InlineData("lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha", LoraTarget.TextEncoder, "text_model_encoder_layers_0_self_attn_q_proj", false)]
    [InlineData("lora_te2_text_model_encoder_layers_3_mlp_fc1.lora_up.weight", LoraTarget.TextEncoder2, "text_model_encoder_layers_3_mlp_fc1", false)]
    [InlineData("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight", LoraTarget.UNet, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", true)]
    [InlineData("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight", LoraTarget.TextEncoder, "text_model.encoder.layers.0.self_attn.q_proj", true)]
    [InlineData("unet.mid_block.attentions.0.proj_in.lora.down.weight", LoraTarget.UNet, "mid_block.attentions.0.proj_in", true)]
    [InlineData("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.up.weight", LoraTarget.UNet, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0", true)]
    [InlineData("text_encoder.text_model.encoder.layers.0.self_attn.to_k_lora.down.weight", LoraTarget.TextEncoder, "text_model.encoder.layers.0.self_attn.k_proj", true)]
    [InlineData("text_encoder.text_model.encoder.layers.1.mlp.fc2.lora_linear_layer.up.weight", LoraTarget.TextEncoder, "text_model.encoder.layers.1.mlp.fc2", true)]
    [InlineData("text_encoders.clip_l.transformer.text_model.encoder.layers.1.mlp.fc2.lora_down.weight", LoraTarget.TextEncoder, "text_model.encoder.layers.1.mlp.fc2", true)]
    public void KeyStylesParseToComponentAndModule(string key, LoraTarget target, string module, bool dotted)
    {
        Assert.True(LoraAdapter.TryParseKey(key, out LoraTarget parsedTarget, out string parsedModule, out bool parsedDotted, out _, out _, out bool checkpointNames));

        Assert.Equal((target, module, dotted), (parsedTarget, parsedModule, parsedDotted));
        Assert.False(checkpointNames);
    }

    [Theory]
    [InlineData("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", "double_blocks_0_img_attn_qkv", false)]
    [InlineData("lora_unet_single_blocks_37_linear1.alpha", "single_blocks_37_linear1", false)]
    [InlineData("lora_unet_final_layer_adaLN_modulation_1.lora_up.weight", "final_layer_adaLN_modulation_1", false)]
    [InlineData("lora_unet_img_in.lora_up.weight", "img_in", false)]
    [InlineData("lora_unet_time_in_in_layer.lora_up.weight", "time_in_in_layer", false)]
    [InlineData("diffusion_model.double_blocks.3.txt_mod.lin.lora_up.weight", "double_blocks.3.txt_mod.lin", true)]
    [InlineData("diffusion_model.guidance_in.out_layer.alpha", "guidance_in.out_layer", true)]
    public void FluxCheckpointKeysGoToTheTransformerUnderTheirBlackForestLabsNames(string key, string module, bool dotted)
    {
        Assert.True(LoraAdapter.TryParseKey(key, out LoraTarget target, out string parsedModule, out bool parsedDotted, out _, out _, out bool checkpointNames));

        Assert.Equal((LoraTarget.Transformer, module, dotted, true), (target, parsedModule, parsedDotted, checkpointNames));
    }

    [Theory]
    [InlineData("lora_unet_input_blocks_1_1_proj_in.lora_down.weight")] // kohya SDXL (Stability's names) stays a UNet module
    [InlineData("lora_unet_time_embedding_linear_1.lora_down.weight")]
    [InlineData("lora_unet_img_inner.lora_down.weight")]
    public void UNetKeysThatMerelyResembleFluxNamesStayUNetKeys(string key)
    {
        Assert.True(LoraAdapter.TryParseKey(key, out LoraTarget target, out _, out _, out _, out _, out bool checkpointNames));

        Assert.Equal((LoraTarget.UNet, false), (target, checkpointNames));
    }

    [Theory]
    [InlineData("lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a")]
    [InlineData("base_model.model.down_blocks.0.attentions.0.proj_in.lora_A.weight")]
    [InlineData("unet.conv_in.weight")]
    [InlineData("diffusion_model.input_blocks.1.1.proj_in.lora_down.weight")] // ComfyUI's SD names: not a FLUX layer
    public void OtherKeysAreNotTakenForLoraFactors(string key)
    {
        Assert.False(LoraAdapter.TryParseKey(key, out _, out _, out _, out _, out _, out _));
    }

    [Fact]
    public void LoadCountsModulesPerComponentAndKeepsMetadata()
    {
        LoraAdapter adapter = LoraAdapter.Load(LoraFixtures.PathOf("te_kohya.safetensors"));

        Assert.Equal("te_kohya", adapter.Name);
        Assert.Equal(6, adapter.CountModules(LoraTarget.TextEncoder));
        Assert.Equal(2, adapter.CountModules(LoraTarget.UNet));
        Assert.Equal("4", LoraAdapter.Load(LoraFixtures.PathOf("unet_kohya.safetensors")).Metadata["ss_network_dim"]);
    }

    [Fact]
    public void AModuleWithoutItsUpFactorNamesTheFileAndKey()
    {
        string path = SafeTensorsTestFile.Write("no-up.safetensors",
            """{"lora_unet_conv_in.lora_down.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}""", SafeTensorsTestFile.Floats(1, 2));

        var error = Assert.Throws<WeightFileException>(() => LoraAdapter.Load(path));

        Assert.Equal(path, error.FilePath);
        Assert.Equal("lora_unet_conv_in.lora_down.weight", error.Key);
        Assert.Contains("no up", error.Message);
    }

    [Fact]
    public void FactorsOfDifferentRankNameTheKey()
    {
        string path = SafeTensorsTestFile.Write("rank.safetensors",
            """{"lora_unet_conv_in.lora_down.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"lora_unet_conv_in.lora_up.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}""",
            SafeTensorsTestFile.Floats(1, 2, 3));

        var error = Assert.Throws<WeightFileException>(() => LoraAdapter.Load(path));

        Assert.Equal("lora_unet_conv_in.lora_up.weight", error.Key);
        Assert.Contains("rank mismatch", error.Message);
    }

    [Fact]
    public void AFileWithoutLoraKeysIsRefused()
    {
        var error = Assert.Throws<WeightFileException>(() => LoraAdapter.Load(LoraFixtures.PathOf("ti_two_vectors.safetensors")));

        Assert.Contains("no LoRA keys recognised", error.Message);
    }
}
