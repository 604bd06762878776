using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Tests.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// FluxTransformer2DModel built from tiny diffusers checkpoints (tools/reference-data/graphs/generate_flux_transformer.py)
/// against diffusers' own class for the same weights and inputs, and the real FLUX.1 parameter counts.
/// </summary>
public sealed class FluxTransformerGraphTests
{
    [Theory]
    [InlineData("flux-dev-transformer", true)]
    [InlineData("flux-schnell-transformer", false)]
    public void Built_transformer_matches_diffusers(string folder, bool guidance)
        => AssertMatchesDiffusers(CheckpointTransformer.Build(GraphFixtures.Fixture(folder)), folder, guidance);

    [Theory]
    [InlineData("flux-dev-bfl.safetensors", "flux-dev-transformer", true)]
    [InlineData("flux-schnell-bfl.safetensors", "flux-schnell-transformer", false)]
    public void Black_forest_labs_single_file_builds_the_same_model(string file, string folder, bool guidance)
    {
        // The tiny heads (8 wide) need the config's RoPE axes; FLUX.1's own 128-wide heads are read from the shapes alone.
        FluxTransformerConfig config = FluxTransformerConfig.FromJson(GraphFixtures.Fixture(folder, "config.json"));
        AssertMatchesDiffusers(BflFluxCheckpoint.Build(GraphFixtures.Fixture(file), config), folder, guidance);
    }

    [Fact]
    public void Black_forest_labs_file_with_unknown_head_width_asks_for_a_config()
    {
        var error = Assert.Throws<ModelLoadException>(() => BflFluxCheckpoint.Build(GraphFixtures.Fixture("flux-dev-bfl.safetensors")));
        Assert.Contains("RoPE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_of_another_layout_is_not_taken_for_flux()
    {
        using var file = new SafeTensorsWeightSource([GraphFixtures.Fixture("sd1.safetensors")]);
        Assert.False(BflFluxCheckpoint.IsBflFlux(file));
        Assert.Throws<WeightFileException>(() => BflFluxCheckpoint.Build(GraphFixtures.Fixture("sd1.safetensors")));
    }

    private static void AssertMatchesDiffusers(BuiltModel built, string folder, bool guidance)
    {
        using InferenceSession session = SessionFactory.Create(built.ToSource(), new SessionSettings { IntraOpThreads = 1 });
        var names = new List<string> { "hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids" };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("flux.hidden"), [2, 6, 8]),
            OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("flux.context"), [2, 5, 12]),
            OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("flux.pooled"), [2, 10]),
            OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("flux.timestep"), [2]),
            OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("flux.img_ids"), [6, 3]),
            OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("flux.txt_ids"), [5, 3]),
        };
        if (guidance)
        {
            names.Add("guidance");
            values.Add(OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("flux.guidance"), [2]));
        }
        Assert.Equal(names.Order(), session.InputMetadata.Keys.Order());
        try
        {
            using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), names, values, ["out_hidden_states"]);
            Assert.Equal([2, 6, 8], outputs[0].GetTensorTypeAndShape().Shape);
            float[] expected = GraphFixtures.Reference(folder + ".out");
            float scale = expected.Max(MathF.Abs);
            Assert.InRange(ReferenceTensors.MaxAbsDifference(outputs[0].GetTensorDataAsSpan<float>(), expected), 0f, 1e-4f * Math.Max(1f, scale));
        }
        finally
        {
            foreach (OrtValue value in values)
                value.Dispose();
        }
    }

    [Fact]
    public void Real_flux_configurations_have_their_parameter_counts()
    {
        Assert.Equal(11_901_408_320L, FluxTransformerGraph.Build(FluxTransformerConfig.Dev, new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(11_891_178_560L, FluxTransformerGraph.Build(FluxTransformerConfig.Schnell, new ShapeOnlyWeightSource()).ParameterCount);
    }

    [Fact]
    public void Rope_axes_that_do_not_fill_the_head_are_refused()
    {
        string folder = GraphFixtures.CopyFolder("flux-dev-transformer");
        try
        {
            string config = Path.Combine(folder, "config.json");
            string text = File.ReadAllText(config);
            int start = text.IndexOf("\"axes_dims_rope\"", StringComparison.Ordinal);
            int end = text.IndexOf(']', start);
            File.WriteAllText(config, text[..start] + "\"axes_dims_rope\": [2, 2, 2" + text[end..]);
            Assert.Contains("axes_dims_rope", Assert.Throws<ModelLoadException>(() => CheckpointTransformer.Build(folder)).Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
