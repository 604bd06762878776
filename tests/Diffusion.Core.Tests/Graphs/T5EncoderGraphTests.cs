using System.Buffers.Binary;
using System.Text.Json;
using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Models;
using Diffusion.Core.Tests.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// T5 encoders built from tiny transformers checkpoints (tools/reference-data/graphs/generate_t5_checkpoints.py) against
/// a torch transcription of transformers' T5 encoder for the same weights and ids, and the real T5 v1.1 XXL shape.
/// </summary>
public sealed class T5EncoderGraphTests
{
    private const int Batch = 2;
    private const int Sequence = 40;
    private const int Width = 32;

    private static long[] Ids()
    {
        byte[] bytes = File.ReadAllBytes(GraphFixtures.Fixture("reference", "t5.ids.i64"));
        var ids = new long[bytes.Length / 8];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(i * 8));
        return ids;
    }

    private static float[] Run(BuiltModel built, long[] ids, int batch, int sequence)
    {
        using InferenceSession session = SessionFactory.Create(built.ToSource(), new SessionSettings { IntraOpThreads = 1 });
        using OrtValue input = OrtValue.CreateTensorValueFromMemory(ids, [batch, sequence]);
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), ["input_ids"], [input], ["last_hidden_state"]);
        Assert.Equal([batch, sequence, Width], outputs[0].GetTensorTypeAndShape().Shape);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    [Theory]
    [InlineData("t5")]
    [InlineData("t5-bf16")]
    [InlineData("t5-relu")]
    public void Built_encoder_matches_torch(string folder)
    {
        float[] actual = Run(CheckpointTextEncoder.Build(GraphFixtures.Fixture(folder)), Ids(), Batch, Sequence);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(actual, GraphFixtures.Reference(folder + ".t5")), 0f, 1e-4f);
    }

    [Fact]
    public void Built_encoder_loads_as_a_text_encoder_that_takes_int32_ids()
    {
        using Diffusion.Core.TextEncoding.TextEncoder encoder = CheckpointTextEncoder.Load(GraphFixtures.Fixture("t5"), new SessionSettings { IntraOpThreads = 1 });
        Assert.Equal(TensorElementKind.Int64, encoder.InputIdsElementKind);
        Assert.Equal(Width, encoder.GetHiddenSize());
        int[] ids = Ids().Select(id => (int)id).ToArray();
        var hidden = new float[Batch * Sequence * Width];
        encoder.Encode(ids, Batch, Sequence, hidden);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(hidden, GraphFixtures.Reference("t5.t5")), 0f, 1e-4f);
    }

    [Fact]
    public void Sequences_shorter_and_longer_than_the_bucket_reach_run()
    {
        // t5-relu reaches 20 positions: 40 tokens need the clamped buckets, 3 tokens only exact ones; each row must
        // equal its own run alone (no cross-row leakage) and the reference's first row for the full length.
        BuiltModel built = CheckpointTextEncoder.Build(GraphFixtures.Fixture("t5-relu"));
        long[] ids = Ids();
        float[] first = Run(built, ids[..Sequence], 1, Sequence);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(first, GraphFixtures.Reference("t5-relu.t5").AsSpan(0, Sequence * Width)), 0f, 1e-4f);
        Assert.Equal(3 * Width, Run(built, ids[..3], 1, 3).Length);
    }

    [Fact]
    public void Bucket_table_equals_transformers_for_every_relative_position()
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(GraphFixtures.Fixture("reference", "t5.buckets.json")));
        foreach (JsonProperty table in document.RootElement.GetProperty("tables").EnumerateObject())
        {
            string[] parts = table.Name.Split(',');
            int buckets = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            int maxDistance = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            int position = -300;
            foreach (JsonElement expected in table.Value.EnumerateArray())
            {
                // The graph clamps to ±max_distance; farther positions must share that bucket.
                int clamped = Math.Clamp(position, -maxDistance, maxDistance);
                Assert.Equal(expected.GetInt64(), T5RelativePositionBuckets.Bucket(clamped, buckets, maxDistance));
                position++;
            }
        }
    }

    [Fact]
    public void Real_t5_v1_1_xxl_encoder_has_its_parameter_count()
        => Assert.Equal(4_762_310_656L, T5EncoderGraph.Build(T5EncoderConfig.T5V11Xxl, new ShapeOnlyWeightSource()).ParameterCount);

    [Fact]
    public void Unsupported_feed_forward_is_named()
    {
        string folder = GraphFixtures.CopyFolder("t5");
        try
        {
            string config = Path.Combine(folder, "config.json");
            File.WriteAllText(config, File.ReadAllText(config).Replace("\"gated-gelu\"", "\"gated-silu\"", StringComparison.Ordinal));
            Assert.Contains("gated-silu", Assert.Throws<ModelLoadException>(() => CheckpointTextEncoder.Build(folder)).Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Missing_relative_attention_bias_is_named()
    {
        string folder = GraphFixtures.CopyFolder("t5-relu");
        try
        {
            string config = Path.Combine(folder, "config.json");
            // Claim more buckets than the checkpoint's table has.
            File.WriteAllText(config, File.ReadAllText(config).Replace("\"relative_attention_num_buckets\": 16", "\"relative_attention_num_buckets\": 32", StringComparison.Ordinal));
            var error = Assert.Throws<WeightFileException>(() => CheckpointTextEncoder.Build(folder));
            Assert.Contains("relative_attention_bias", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
