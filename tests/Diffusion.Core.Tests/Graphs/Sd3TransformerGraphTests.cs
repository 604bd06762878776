using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Tests.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// SD3Transformer2DModel built from tiny diffusers checkpoints (tools/reference-data/graphs/generate_sd3_transformer.py)
/// against diffusers' own class for the same weights and inputs, and the real configurations' parameter counts.
/// </summary>
public sealed class Sd3TransformerGraphTests
{
    [Theory]
    [InlineData("sd3-transformer")]
    [InlineData("sd35-transformer")]
    public void Built_transformer_matches_diffusers(string folder)
        => AssertMatchesDiffusers(CheckpointTransformer.Build(GraphFixtures.Fixture(folder)), folder);

    [Fact]
    public void Stability_single_file_builds_the_same_model()
    {
        // SD3.5-like: QK norms give the head width, so the whole architecture comes from the tensors.
        AssertMatchesDiffusers(SaiSd3Checkpoint.Build(GraphFixtures.Fixture("sd35-sai.safetensors")), "sd35-transformer");
        // SD3.0-like without QK norm: the tiny 8-wide heads are not SD3's 64, so the config is given.
        AssertMatchesDiffusers(SaiSd3Checkpoint.Build(GraphFixtures.Fixture("sd3-sai.safetensors"),
            Sd3TransformerConfig.FromJson(GraphFixtures.Fixture("sd3-transformer", "config.json"))), "sd3-transformer");
    }

    [Fact]
    public void Architecture_read_from_a_stability_file_equals_the_diffusers_config()
    {
        using var file = new SafeTensorsWeightSource([GraphFixtures.Fixture("sd35-sai.safetensors")]);
        Assert.True(SaiSd3Checkpoint.IsSaiSd3(file));
        Sd3TransformerConfig read = SaiSd3Checkpoint.ConfigFromShapes(file, "model.diffusion_model.", "sd35-sai.safetensors");
        Sd3TransformerConfig expected = Sd3TransformerConfig.FromJson(GraphFixtures.Fixture("sd35-transformer", "config.json"));
        Assert.Equal(expected.DualAttentionLayers, read.DualAttentionLayers);
        Assert.Equal(expected with { DualAttentionLayers = [], SampleSize = 0 }, read with { DualAttentionLayers = [], SampleSize = 0 });
    }

    private static void AssertMatchesDiffusers(BuiltModel built, string folder)
    {
        using InferenceSession session = SessionFactory.Create(built.ToSource(), new SessionSettings { IntraOpThreads = 1 });
        float[] actual = GraphFixtures.RunSd3Transformer(session);
        float[] expected = GraphFixtures.Reference(folder + ".out");
        float scale = expected.Max(MathF.Abs);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(actual, expected), 0f, 1e-4f * Math.Max(1f, scale));
    }

    [Fact]
    public void Real_configurations_have_their_parameter_counts()
    {
        Assert.Equal(2_028_328_000L, Sd3TransformerGraph.Build(Sd3TransformerConfig.Sd3Medium, new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(2_243_171_520L, Sd3TransformerGraph.Build(Sd3TransformerConfig.Sd35Medium, new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(8_056_627_520L, Sd3TransformerGraph.Build(Sd3TransformerConfig.Sd35Large, new ShapeOnlyWeightSource()).ParameterCount);
    }
}
