using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Models;
using Diffusion.Core.Tests.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// UNets built from tiny diffusers checkpoints (tools/reference-data/graphs/generate_unet_checkpoints.py) against
/// diffusers' own UNet2DConditionModel for the same weights and inputs, and the real configurations' parameter counts.
/// </summary>
public sealed class UNetGraphTests
{
    [Fact]
    public void Real_configurations_have_the_real_parameter_counts()
    {
        Assert.Equal(859_520_964L, UNet2DConditionGraph.Build(UNetConfig.StableDiffusion15(), new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(859_535_364L, UNet2DConditionGraph.Build(UNetConfig.StableDiffusion15(inChannels: 9), new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(865_910_724L, UNet2DConditionGraph.Build(UNetConfig.StableDiffusion21, new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(2_567_463_684L, UNet2DConditionGraph.Build(UNetConfig.StableDiffusionXL, new ShapeOnlyWeightSource()).ParameterCount);
        // The refiner's published config through diffusers' own class (sum of its parameters' numel).
        Assert.Equal(2_259_526_660L, UNet2DConditionGraph.Build(UNetConfig.StableDiffusionXLRefiner, new ShapeOnlyWeightSource()).ParameterCount);
    }

    private static readonly SessionSettings s_session = new() { IntraOpThreads = 1 };


    [Theory]
    [InlineData("unet-sd", 24, 1280, true)]
    [InlineData("unet-sdxl", 20, 12, true)]
    [InlineData("unet-sd", 24, 1280, false)]
    [InlineData("unet-sdxl", 20, 12, false)]
    public void Built_unet_matches_diffusers(string folder, int cross, int textEmbedsWidth, bool fusedAttention)
    {
        UNetConfig config = UNetConfig.FromJson(GraphFixtures.Fixture(folder, "config.json"), textEmbedsWidth);
        using var weights = new SafeTensorsWeightSource([GraphFixtures.Fixture(folder, "diffusion_pytorch_model.safetensors")]);
        BuiltModel built = UNet2DConditionGraph.Build(config, weights, fusedAttention);
        var model = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(built.Graph);
        int fused = model.Graph.Node.Count(n => n.OpType == "MultiHeadAttention" && n.Domain == OnnxGraphBuilder.ContribDomain);
        // One fused node per attention (self and cross in every transformer block), or none and no contrib import.
        Assert.Equal(fusedAttention, fused > 0 && fused % 2 == 0);
        Assert.Equal(fusedAttention, model.OpsetImport.Any(o => o.Domain == OnnxGraphBuilder.ContribDomain));
        Assert.Equal(!fusedAttention, model.Graph.Node.Any(n => n.OpType == "Softmax"));
        using var session = SessionFactory.Create(built.ToSource(), s_session);
        var inputs = new List<(string Name, OrtValue Value)>
        {
            ("sample", OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference(folder + ".sample"), [2, 4, 8, 8])),
            ("timestep", OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference(folder + ".timestep"), [1])),
            ("encoder_hidden_states", OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference(folder + ".context"), [2, 7, cross])),
        };
        if (config.AddTimeIds > 0)
        {
            inputs.Add(("text_embeds", OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference(folder + ".text_embeds"), [2, 12])));
            inputs.Add(("time_ids", OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference(folder + ".time_ids"), [2, 6])));
        }
        try
        {
            using var outputs = session.Run(new RunOptions(), inputs.Select(i => i.Name).ToArray(), inputs.Select(i => i.Value).ToArray(), ["out_sample"]);
            Assert.InRange(ReferenceTensors.MaxAbsDifference(outputs[0].GetTensorDataAsSpan<float>(), GraphFixtures.Reference(folder + ".out")), 0f, 1e-4f);
        }
        finally
        {
            foreach ((_, OrtValue value) in inputs)
                value.Dispose();
        }
    }

    [Fact]
    public void Built_sdxl_unet_has_optimums_contract()
    {
        using UNet unet = CheckpointUNet.Load(GraphFixtures.Fixture("unet-sdxl"), s_session, textEmbedsWidth: 12);
        Assert.Equal(["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"], unet.Inputs.Select(i => i.Name));
        Assert.Equal("out_sample", unet.Outputs.Single().Name);
        Assert.Contains("unet built from", unet.ModelPath, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pooled_width_that_does_not_divide_the_added_embedding_is_refused()
    {
        var error = Assert.Throws<ModelLoadException>(() => CheckpointUNet.Load(GraphFixtures.Fixture("unet-sdxl"), s_session, textEmbedsWidth: 13));
        Assert.Contains("projection_class_embeddings_input_dim 60", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"time_cond_proj_dim\": null", "\"time_cond_proj_dim\": 8", "time_cond_proj_dim is set")]
    [InlineData("\"center_input_sample\": false", "\"center_input_sample\": true", "center_input_sample")]
    [InlineData("\"use_linear_projection\": true", "\"use_linear_projection\": 1", "use_linear_projection must be true or false")]
    [InlineData("\"attention_head_dim\": [\n    2,\n    2,\n    4\n  ]", "\"attention_head_dim\": [2, 2]", "attention_head_dim must have 3 entries")]
    [InlineData("\"CrossAttnUpBlock2D\",\n    \"UpBlock2D\"", "\"UpBlock2D\",\n    \"UpBlock2D\"", "mirroring down_block_types[1]")]
    public void An_unsupported_or_malformed_config_is_named(string from, string to, string expected)
    {
        string folder = GraphFixtures.CopyFolder("unet-sdxl");
        string config = Path.Combine(folder, "config.json");
        string text = File.ReadAllText(config);
        Assert.Contains(from, text, StringComparison.Ordinal);
        File.WriteAllText(config, text.Replace(from, to));
        var error = Assert.Throws<ModelLoadException>(() => CheckpointUNet.Load(folder, s_session, textEmbedsWidth: 12));
        Assert.Equal(config, error.Path);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(320)]
    [InlineData(256)]
    public void Timestep_frequencies_are_torchs_float32_exp_bit_for_bit(int dim)
    {
        float[] expected = GraphFixtures.Reference($"timestep-frequencies-{dim}");
        int half = dim / 2;
        float logPeriod = -(float)Math.Log(10000);
        for (int i = 0; i < half; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(UNetBlocks.TorchExp(logPeriod * i / (float)half)));
    }
}
