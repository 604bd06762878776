using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
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
    {
        BuiltModel built = CheckpointTransformer.Build(GraphFixtures.Fixture(folder));
        using InferenceSession session = SessionFactory.Create(built.ToSource(), new SessionSettings { IntraOpThreads = 1 });
        using OrtValue hidden = OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("sd3.hidden"), [2, 4, 8, 6]);
        using OrtValue context = OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("sd3.context"), [2, 5, 12]);
        using OrtValue pooled = OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("sd3.pooled"), [2, 10]);
        using OrtValue timestep = OrtValue.CreateTensorValueFromMemory(GraphFixtures.Reference("sd3.timestep"), [2]);
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(),
            ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"], [hidden, context, pooled, timestep], ["out_hidden_states"]);
        Assert.Equal([2, 4, 8, 6], outputs[0].GetTensorTypeAndShape().Shape);
        float[] expected = GraphFixtures.Reference(folder + ".out");
        float scale = expected.Max(MathF.Abs);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(outputs[0].GetTensorDataAsSpan<float>(), expected), 0f, 1e-4f * Math.Max(1f, scale));
    }

    [Fact]
    public void Real_configurations_have_their_parameter_counts()
    {
        Assert.Equal(2_028_328_000L, Sd3TransformerGraph.Build(Sd3TransformerConfig.Sd3Medium, new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(2_243_171_520L, Sd3TransformerGraph.Build(Sd3TransformerConfig.Sd35Medium, new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(8_056_627_520L, Sd3TransformerGraph.Build(Sd3TransformerConfig.Sd35Large, new ShapeOnlyWeightSource()).ParameterCount);
    }
}
