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
    public void KeyStylesParseToComponentAndModule(string key, LoraTarget target, string module, bool dotted)
    {
        Assert.True(LoraAdapter.TryParseKey(key, out LoraTarget parsedTarget, out string parsedModule, out bool parsedDotted, out _, out _));

        Assert.Equal((target, module, dotted), (parsedTarget, parsedModule, parsedDotted));
    }

    [Theory]
    [InlineData("lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a")]
    [InlineData("base_model.model.down_blocks.0.attentions.0.proj_in.lora_A.weight")]
    [InlineData("unet.conv_in.weight")]
    public void OtherKeysAreNotTakenForLoraFactors(string key)
    {
        Assert.False(LoraAdapter.TryParseKey(key, out _, out _, out _, out _, out _));
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
