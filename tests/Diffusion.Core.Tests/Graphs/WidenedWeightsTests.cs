using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// Half-precision weights of built graphs widened by the library (<see cref="WidenedWeights"/>) instead of by ONNX Runtime's
/// cast folding: every architecture the builder makes gives bit-identical outputs both ways at the levels where widening
/// applies, ONNX Runtime never reads a placeholder, and bad weight files are typed errors.
/// </summary>
public sealed class WidenedWeightsTests
{
    public static TheoryData<string, string, string> Models => new()
    {
        { "unet", "unet-sd", "F16" },
        { "transformer", "sd3-transformer", "F16" },
        { "transformer", "sd35-transformer", "BF16" },
        { "transformer", "flux-dev-transformer", "F16" },
        { "text-encoder", "t5", "BF16" },
        { "text-encoder", "clip-g", "F16" },
        { "vae-decoder", "vae", "F16" },
        { "vae-encoder", "vae-16", "BF16" },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Widened_weights_give_the_same_outputs_as_ONNX_Runtime_widening(string kind, string fixture, string dtype)
    {
        string folder = GraphFixtures.CopyFolder(fixture);
        try
        {
            foreach (string file in Directory.GetFiles(folder, "*.safetensors"))
                RewriteAsHalf(file, dtype);
            BuiltModel built = kind switch
            {
                "unet" => CheckpointUNet.Build(folder),
                "transformer" => CheckpointTransformer.Build(folder),
                "text-encoder" => CheckpointTextEncoder.Build(folder),
                "vae-decoder" => CheckpointVae.BuildDecoder(folder),
                _ => CheckpointVae.BuildEncoder(folder),
            };
            AssertWidenedEqualsUnwidened(built);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_float16_single_file_UNet_gives_the_same_outputs_widened()
    {
        using SingleFileCheckpoint checkpoint = SingleFileCheckpoint.Open(GraphFixtures.Fixture("sd1.safetensors"));
        AssertWidenedEqualsUnwidened(checkpoint.BuildUNet(UNetConfig.FromJson(GraphFixtures.Fixture("sd1-safetensors", "unet", "config.json")), fusedAttention: true), minimumWidened: 10);
    }

    [Fact]
    public void A_LoRA_and_a_textual_inversion_give_the_same_image_with_their_weights_widened_in_place()
    {
        // Level EXTENDED (as for real-size models): the merged and enlarged weights replace widened weights in float32
        // instead of being exposed as float16 graph inputs cast at every step; the numbers must not change.
        string adapters = GraphFixtures.Fixture("sd1-adapters");
        var session = new SessionSettings { IntraOpThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED };
        var settings = new PipelineSettings
        {
            Session = session, ConfigDirectory = GraphFixtures.Fixture("sd1-safetensors"),
            Loras = [new LoraFile(Path.Combine(adapters, "lora.safetensors"), 0.8f)],
            TextualInversions = [Path.Combine(adapters, "cat-toy.safetensors")],
        };
        var options = new GenerationOptions { Prompt = "a photo of cat-toy", Steps = 3, Seed = 5 };
        using StableDiffusionPipeline widened = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"), settings);
        using StableDiffusionPipeline byOrt = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"),
            settings with { Session = session with { WidenHalfPrecisionWeights = false } });
        GenerationResult a = widened.Generate(options);
        Assert.Equal(5, a.LoraReports.Sum(r => r.MatchedModules.Count));
        Assert.Equal(byOrt.Generate(options).Latents, a.Latents);
    }

    [Fact]
    public void Only_weights_that_a_multiplication_reads_are_widened_and_their_casts_removed()
    {
        using SingleFileCheckpoint checkpoint = SingleFileCheckpoint.Open(GraphFixtures.Fixture("sd1.safetensors"));
        BuiltModel built = checkpoint.BuildUNet(UNetConfig.FromJson(GraphFixtures.Fixture("sd1-safetensors", "unet", "config.json")), fusedAttention: true);
        byte[] graph = built.Graph;
        int castsBefore = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(graph).Graph.Node.Count(n => n.OpType == "Cast");
        using WidenedWeights widened = WidenedWeights.Widen(ref graph, built.ExternalDataFolder!, new HashSet<string>())!;
        var after = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(graph).Graph;
        Assert.Equal(castsBefore - widened.Count, after.Node.Count(n => n.OpType == "Cast"));
        // Norm scales and biases stay behind their casts (ONNX Runtime may fold them, reading the file).
        Assert.Contains(after.Initializer, t => t.Name.EndsWith(".bias", StringComparison.Ordinal) && t.DataType == (int)Diffusion.Core.Graphs.Proto.TensorProto.Types.DataType.Float16);
        Assert.All(after.Initializer.Where(t => t.Name.EndsWith("Cast_output_0", StringComparison.Ordinal)),
            t => Assert.Equal((int)Diffusion.Core.Graphs.Proto.TensorProto.Types.DataType.Float, t.DataType));
        Assert.Equal(widened.Bytes, widened.Bytes / 64 * 64);
    }

    [Fact]
    public void Weights_a_session_overrides_are_not_widened()
    {
        using SingleFileCheckpoint checkpoint = SingleFileCheckpoint.Open(GraphFixtures.Fixture("sd1.safetensors"));
        BuiltModel built = checkpoint.BuildUNet(UNetConfig.FromJson(GraphFixtures.Fixture("sd1-safetensors", "unet", "config.json")), fusedAttention: true);
        byte[] all = built.Graph, some = built.Graph;
        using WidenedWeights widenedAll = WidenedWeights.Widen(ref all, built.ExternalDataFolder!, new HashSet<string>())!;
        string kept = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(built.Graph).Graph.Initializer.First(t => t.Name.EndsWith("to_q.weight", StringComparison.Ordinal)).Name;
        using WidenedWeights widenedSome = WidenedWeights.Widen(ref some, built.ExternalDataFolder!, new HashSet<string> { kept })!;
        Assert.Equal(widenedAll.Count - 1, widenedSome.Count);
        Assert.Contains(Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(some).Graph.Initializer, t => t.Name == kept);
    }

    [Fact]
    public void A_truncated_weight_file_is_a_typed_error_naming_the_tensor()
    {
        string folder = GraphFixtures.CopyFolder("clip-l-f16");
        try
        {
            BuiltModel built = CheckpointTextEncoder.Build(folder);
            string file = Path.Combine(folder, "model.safetensors");
            using (var stream = new FileStream(file, FileMode.Open))
                stream.SetLength(stream.Length - 4096);
            byte[] graph = built.Graph;
            var error = Assert.Throws<WeightFileException>(() => WidenedWeights.Widen(ref graph, folder, new HashSet<string>()));
            Assert.Contains("model.safetensors", error.Message, StringComparison.Ordinal);
            Assert.Equal(built.Graph, graph); // nothing half-changed
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Runs the model at levels BASIC and EXTENDED with and without the library's widening, on inputs made from its metadata.</summary>
    private static void AssertWidenedEqualsUnwidened(BuiltModel built, int minimumWidened = 1)
    {
        byte[] graph = built.Graph;
        using (WidenedWeights? widened = WidenedWeights.Widen(ref graph, built.ExternalDataFolder!, new HashSet<string>()))
            Assert.InRange(widened?.Count ?? 0, minimumWidened, int.MaxValue);
        foreach (GraphOptimizationLevel level in new[] { GraphOptimizationLevel.ORT_ENABLE_BASIC, GraphOptimizationLevel.ORT_ENABLE_EXTENDED })
        {
            var settings = new SessionSettings { IntraOpThreads = 1, GraphOptimizationLevel = level };
            float[][] expected = Run(built, settings with { WidenHalfPrecisionWeights = false });
            float[][] actual = Run(built, settings);
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.Equal(expected[i], actual[i]); // bit for bit: float16/bfloat16 → float32 is exact either way
        }
    }

    private static float[][] Run(BuiltModel built, SessionSettings settings)
    {
        using InferenceSession session = SessionFactory.Create(built.ToSource(), settings);
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            var random = new Random(5);
            foreach ((string name, NodeMetadata metadata) in session.InputMetadata)
            {
                long[] shape = metadata.Dimensions.Select(d => d < 0 ? 8L : d).ToArray();
                int count = (int)shape.Aggregate(1L, (a, b) => a * b);
                names.Add(name);
                values.Add(metadata.ElementDataType switch
                {
                    TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, count).Select(i => (long)(i % 4)).ToArray(), shape),
                    TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, count).Select(i => i % 4).ToArray(), shape),
                    _ => OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, count).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), shape),
                });
            }
            using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), names, values, session.OutputNames);
            return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray();
        }
        finally
        {
            foreach (OrtValue value in values)
                value.Dispose();
        }
    }

    /// <summary>Rewrites a float32 safetensors file in place with every tensor in <paramref name="dtype"/> (F16 or BF16, rounded to nearest even).</summary>
    private static void RewriteAsHalf(string path, string dtype)
    {
        var tensors = new List<(string Name, long[] Shape, ushort[] Bits)>();
        using (SafeTensorsFile file = SafeTensorsFile.Open(path))
        {
            foreach (SafeTensorInfo info in file.Tensors)
            {
                float[] values = file.ReadAsFloat32(info.Name);
                ushort[] bits = dtype == "F16"
                    ? values.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray()
                    : values.Select(ToBFloat16).ToArray();
                tensors.Add((info.Name, info.Shape.ToArray(), bits));
            }
        }
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach ((string name, long[] shape, ushort[] bits) in tensors)
        {
            header[name] = new { dtype, shape, data_offsets = new[] { offset, offset + bits.Length * 2L } };
            offset += bits.Length * 2L;
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var output = new FileStream(path, FileMode.Create);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        output.Write(length);
        output.Write(json);
        foreach ((_, _, ushort[] bits) in tensors)
        {
            foreach (ushort value in bits)
            {
                output.WriteByte((byte)value);
                output.WriteByte((byte)(value >> 8));
            }
        }
    }

    private static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
