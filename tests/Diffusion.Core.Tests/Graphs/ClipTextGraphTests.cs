using System.Buffers.Binary;
using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Tests.Models;
using Diffusion.Core.TextEncoding;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// CLIP text encoders built from tiny transformers checkpoints (tools/reference-data/graphs/generate_clip_checkpoints.py)
/// against a torch CLIP's outputs for the same weights and ids.
/// </summary>
public sealed class ClipTextGraphTests
{
    private const int Batch = 2;
    private const int Sequence = 77;
    private static readonly SessionSettings s_session = new() { IntraOpThreads = 1 };

    private static int[] Ids()
    {
        byte[] bytes = File.ReadAllBytes(GraphFixtures.Fixture("reference", "ids.i32"));
        var ids = new int[bytes.Length / 4];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(i * 4));
        return ids;
    }


    [Theory]
    [InlineData("clip-l", 32)]
    [InlineData("clip-l-f16", 32)]
    [InlineData("clip-l-bf16", 32)]
    [InlineData("clip-g", 40)]
    public void Built_encoder_matches_torch_in_every_output(string folder, int width)
    {
        using TextEncoder encoder = CheckpointTextEncoder.Load(GraphFixtures.Fixture(folder), s_session);
        int[] ids = Ids();

        var last = new float[Batch * Sequence * width];
        encoder.Encode(ids, Batch, Sequence, last);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(last, GraphFixtures.Reference(folder + ".last")), 0f, 1e-4f);

        float[] expectedPooled = GraphFixtures.Reference(folder + ".pooled");
        var penultimate = new float[last.Length];
        var pooled = new float[expectedPooled.Length];
        encoder.EncodeLayer(ids, Batch, Sequence, 2, penultimate, pooled);
        int layers = encoder.HiddenStateOutputs.Count - 1;
        Assert.InRange(ReferenceTensors.MaxAbsDifference(penultimate, GraphFixtures.Reference($"{folder}.hidden{layers - 1}")), 0f, 1e-4f);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(pooled, expectedPooled), 0f, 1e-4f);
    }

    [Fact]
    public void Built_encoder_has_optimums_contract()
    {
        using TextEncoder plain = CheckpointTextEncoder.Load(GraphFixtures.Fixture("clip-l"), s_session);
        Assert.Equal(["last_hidden_state", "pooler_output", "hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3"],
            plain.Outputs.Select(o => o.Name));
        Assert.Equal("input_ids", Assert.Single(plain.Inputs).Name);
        Assert.Equal(32, plain.HiddenSize);
        Assert.Contains("text_encoder built from", plain.ModelPath, StringComparison.Ordinal);

        using TextEncoder projected = CheckpointTextEncoder.Load(GraphFixtures.Fixture("clip-g"), s_session);
        Assert.Equal(["text_embeds", "last_hidden_state", "hidden_states.0", "hidden_states.1", "hidden_states.2"], projected.Outputs.Select(o => o.Name));
        Assert.Equal(24, projected.PooledWidth);
    }

    [Fact]
    public void Clip_skip_on_a_built_encoder_applies_the_checkpoints_final_norm()
    {
        using TextEncoder encoder = CheckpointTextEncoder.Load(GraphFixtures.Fixture("clip-l-f16"), s_session);
        encoder.RequireClipSkip(2);
        var skipped = new float[Batch * Sequence * 32];
        encoder.Encode(Ids(), Batch, Sequence, 2, skipped);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(skipped, GraphFixtures.Reference("clip-l-f16.skip2")), 0f, 1e-4f);
    }

    [Fact]
    public void Unload_and_reload_builds_nothing_twice_and_gives_the_same_output()
    {
        using TextEncoder encoder = CheckpointTextEncoder.Load(GraphFixtures.Fixture("clip-l"), s_session);
        var first = new float[Batch * Sequence * 32];
        encoder.Encode(Ids(), Batch, Sequence, first);
        encoder.Unload();
        Assert.False(encoder.IsLoaded);
        var second = new float[first.Length];
        encoder.Encode(Ids(), Batch, Sequence, second);
        Assert.Equal(first, second);
    }

    [Fact]
    public void Weights_stay_in_the_checkpoint_file()
    {
        using var weights = new SafeTensorsWeightSource([GraphFixtures.Fixture("clip-l", "model.safetensors")]);
        BuiltModel built = ClipTextModelGraph.Build(ClipTextConfig.FromJson(GraphFixtures.Fixture("clip-l", "config.json"), withProjection: false), weights);
        long fileSize = new FileInfo(GraphFixtures.Fixture("clip-l", "model.safetensors")).Length;
        // The tiny checkpoint is 234 KB of weights; the graph holds only references to them (and a few small constants).
        Assert.InRange(built.Graph.Length, 1, 40_000);
        Assert.True(built.Graph.Length < fileSize / 5, $"graph {built.Graph.Length} bytes, weights {fileSize}");
        var graph = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(built.Graph).Graph;
        Diffusion.Core.Graphs.Proto.TensorProto q = graph.Initializer.Single(t => t.Name == "text_model.encoder.layers.0.self_attn.q_proj.weight");
        Assert.Equal(Diffusion.Core.Graphs.Proto.TensorProto.Types.DataLocation.External, q.DataLocation);
        Assert.Equal("model.safetensors", q.ExternalData.Single(e => e.Key == "location").Value);
        Assert.Contains(graph.Node, n => n.Name == "/text_model/encoder/layers.0/self_attn/q_proj/Gemm");
        Assert.Equal(Path.GetFullPath(GraphFixtures.Fixture("clip-l")), built.ExternalDataFolder);
    }

    [Theory]
    [InlineData("ViTL14", 123_060_480L)]         // SD 1.x, SDXL text_encoder (the figure)
    [InlineData("OpenClipViTH14", 340_387_840L)] // SD 2.x text_encoder: 23 of ViT-H's 24 layers
    [InlineData("OpenClipViTBigG14", 694_659_840L)] // SDXL text_encoder_2 with text_projection
    public void Real_configurations_have_the_real_parameter_counts(string name, long expected)
    {
        ClipTextConfig config = name switch
        {
            "ViTL14" => ClipTextConfig.ViTL14,
            "OpenClipViTH14" => ClipTextConfig.OpenClipViTH14,
            _ => ClipTextConfig.OpenClipViTBigG14,
        };
        BuiltModel built = ClipTextModelGraph.Build(config, new ShapeOnlyWeightSource());
        Assert.Equal(expected, built.ParameterCount);
    }

    [Fact]
    public void A_tensor_of_the_wrong_shape_is_named_before_any_session()
    {
        string folder = GraphFixtures.CopyFolder("clip-l");
        // The config claims a wider MLP than the weights have.
        File.WriteAllText(Path.Combine(folder, "config.json"), File.ReadAllText(Path.Combine(folder, "config.json")).Replace("\"intermediate_size\": 48", "\"intermediate_size\": 64"));
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        var error = Assert.Throws<WeightFileException>(() => CheckpointTextEncoder.Load(folder, s_session));
        Assert.Equal("text_model.encoder.layers.0.mlp.fc1.weight", error.Key);
        Assert.Contains("[48, 32]", error.Message, StringComparison.Ordinal);
        Assert.Contains("[64, 32]", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("model.safetensors", error.FilePath, StringComparison.Ordinal);
        Assert.Equal(before, SessionFactory.SessionsCreatedOnCurrentThread);
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        using var weights = new MissingTensorSource(new SafeTensorsWeightSource([GraphFixtures.Fixture("clip-l", "model.safetensors")]), "text_model.encoder.layers.2.mlp.fc2.bias");
        var error = Assert.Throws<WeightFileException>(() => ClipTextModelGraph.Build(ClipTextConfig.FromJson(GraphFixtures.Fixture("clip-l", "config.json"), false), weights));
        Assert.Equal("text_model.encoder.layers.2.mlp.fc2.bias", error.Key);
        Assert.Contains("missing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_checkpoint_is_refused_before_any_session()
    {
        string folder = GraphFixtures.CopyFolder("clip-l");
        string file = Path.Combine(folder, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length - 100)]);
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        var error = Assert.Throws<WeightFileException>(() => CheckpointTextEncoder.Load(folder, s_session));
        Assert.Equal(file, error.FilePath);
        Assert.Equal(before, SessionFactory.SessionsCreatedOnCurrentThread);
    }

    [Fact]
    public void A_folder_without_weights_or_config_says_what_it_lacks()
    {
        string folder = Directory.CreateTempSubdirectory("diffusion-core-clip-").FullName;
        Assert.Contains("config.json", Assert.Throws<ModelLoadException>(() => CheckpointTextEncoder.Load(folder, s_session)).Message, StringComparison.Ordinal);
        File.Copy(GraphFixtures.Fixture("clip-l", "config.json"), Path.Combine(folder, "config.json"));
        Assert.Contains("model.safetensors", Assert.Throws<ModelLoadException>(() => CheckpointTextEncoder.Load(folder, s_session)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_built_graph_runs_as_a_plain_session_with_outputs_in_the_exporters_order()
    {
        using var weights = new SafeTensorsWeightSource([GraphFixtures.Fixture("clip-g", "model.safetensors")]);
        BuiltModel built = ClipTextModelGraph.Build(ClipTextConfig.FromJson(GraphFixtures.Fixture("clip-g", "config.json"), withProjection: true), weights);
        using InferenceSession session = SessionFactory.Create(built.ToSource(), s_session);
        using var ids = OrtValue.CreateTensorValueFromMemory(Ids(), [Batch, Sequence]);
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), ["input_ids"], [ids], ["text_embeds", "hidden_states.0"]);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(outputs[0].GetTensorDataAsSpan<float>(), GraphFixtures.Reference("clip-g.pooled")), 0f, 1e-4f);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(outputs[1].GetTensorDataAsSpan<float>(), GraphFixtures.Reference("clip-g.hidden0")), 0f, 1e-5f);
    }


    private sealed class MissingTensorSource(SafeTensorsWeightSource inner, string missing) : IWeightSource, IDisposable
    {
        public string Description => inner.Description;

        public WeightReference? Find(string name, long[] expectedShape) => name == missing ? null : inner.Find(name, expectedShape);

        public void Dispose() => inner.Dispose();
    }
}
