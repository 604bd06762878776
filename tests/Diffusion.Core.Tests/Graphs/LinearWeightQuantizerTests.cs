using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Models;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// Weight-only int8/int4 quantisation of built graphs' linear layers (<see cref="SessionSettings.Quantization"/>): the
/// block scheme itself, the quantised graph against the same graph computing with the dequantised weights in float32,
/// and where it is refused.
/// </summary>
public sealed class LinearWeightQuantizerTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void Each_weight_is_within_half_a_step_of_its_block_and_zero_is_exact(int bits)
    {
        const int rows = 3, columns = 70; // 70 = two whole blocks and a padded one
        var random = new Random(bits);
        float[] weights = Enumerable.Range(0, rows * columns).Select(i => i % 11 == 0 ? 0f : (float)(random.NextDouble() * 2 - 1) * (1 + i % 3)).ToArray();
        int blocks = 3;
        var data = new byte[rows * blocks * 32 * bits / 8];
        var scales = new float[rows * blocks];
        var zeros = new byte[bits == 8 ? rows * blocks : rows * 2];
        BlockQuantizer.Quantize(weights, rows, columns, bits, data, scales, zeros);
        float[] restored = BlockQuantizer.Dequantize(data, scales, zeros, rows, columns, bits);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                float w = weights[r * columns + c], step = scales[r * blocks + c / 32];
                Assert.InRange(MathF.Abs(restored[r * columns + c] - w), 0f, step / 2 * 1.0001f + 1e-7f);
                if (w == 0f)
                    Assert.Equal(0f, restored[r * columns + c]);
            }
        }
    }

    [Fact]
    public void Four_bit_codes_pack_the_even_element_and_the_even_block_in_the_low_nibble()
    {
        // One row, two blocks: block 0 runs 0..31 (min 0 → zero point 0, scale 31/15), block 1 is all −1 (zero point 15).
        float[] weights = [.. Enumerable.Range(0, 32).Select(i => (float)i), .. Enumerable.Repeat(-1f, 32)];
        var data = new byte[2 * 16];
        var scales = new float[2];
        var zeros = new byte[1];
        BlockQuantizer.Quantize(weights, 1, 64, 4, data, scales, zeros);
        Assert.Equal(31f / 15, scales[0]);
        Assert.Equal(1f / 15, scales[1]);
        Assert.Equal(0xF0, zeros[0]);                 // block 0: zero point 0 (low nibble); block 1: 15 (high nibble)
        Assert.Equal(0x00, data[0]);                  // codes 0 and round(1 / (31/15)) = 0
        Assert.Equal((byte)(15 << 4 | 15), data[15]); // 30 and 31 → 15, 15 (clamped)
        Assert.All(data[16..], b => Assert.Equal(0x00, b)); // −1 = (0 − 15) · 1/15
    }

    [Theory]
    [InlineData(WeightQuantization.Int8, "clip-l")]
    [InlineData(WeightQuantization.Int4, "clip-l")]
    [InlineData(WeightQuantization.Int8, "t5-bf16")]
    [InlineData(WeightQuantization.Int8, "sd3-transformer")]
    public void The_quantised_graph_computes_what_its_dequantised_weights_compute(WeightQuantization mode, string fixture)
    {
        BuiltModel built = fixture == "sd3-transformer" ? CheckpointTransformer.Build(GraphFixtures.Fixture(fixture)) : CheckpointTextEncoder.Build(GraphFixtures.Fixture(fixture));
        byte[] graph = built.Graph;
        using LinearWeightQuantizer quantized = LinearWeightQuantizer.Quantize(ref graph, built.ExternalDataFolder!, mode, new HashSet<string>(), accuracyLevel: 0)!;
        Assert.True(quantized.Count >= 4, $"{quantized.Count} layers quantised");
        Assert.InRange(quantized.Bytes, 1, quantized.Float32Bytes); // tiny layers: blocks of 32 padded, tensors 64-byte aligned

        // Reference: the unquantised graph with every quantised weight replaced by its dequantised float32 values (half-precision
        // files' weights are widened at this level, so a float32 replacement takes their place).
        var table = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(built.Graph).Graph.Initializer.ToDictionary(t => t.Name);
        using var dequantized = new WeightOverrides(built.Name);
        foreach (string name in quantized.WeightNames)
            dequantized.Add(name, quantized.Dequantize(name), table[name].Dims.ToArray(), TensorElementType.Float, isConvWeight: false); // exact values, not rounded to the file's type
        var settings = new SessionSettings { IntraOpThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED };
        float[] expected = Run(built, settings with { WeightOverrides = [dequantized] }, fixture);
        float[] actual = Run(built, settings with { Quantization = mode, QuantizedAccuracyLevel = 0 }, fixture);
        float scale = expected.Max(MathF.Abs);
        Assert.True(ReferenceTensors.MaxAbsDifference(actual, expected) <= 2e-5f * Math.Max(1f, scale), $"quantised vs dequantised reference: {ReferenceTensors.MaxAbsDifference(actual, expected)} (output scale {scale})");

        // And it is a real approximation of the float model, closer at 8 bits than at 4.
        float[] exact = Run(built, settings, fixture);
        float error = ReferenceTensors.MaxAbsDifference(actual, exact);
        Assert.True(error > 1e-7f && error <= (mode == WeightQuantization.Int8 ? 0.05f : 0.5f) * Math.Max(1f, scale), $"quantised vs float: {error} (output scale {scale})");
    }

    [Theory]
    [InlineData(WeightQuantization.Int8)]
    [InlineData(WeightQuantization.Int4)]
    public void The_default_int8_compute_stays_close_to_the_exact_dequantised_computation(WeightQuantization mode)
    {
        // accuracy_level 4 also quantises each block of 32 activations to int8 (about 0.4 % per element, compounding over the
        // random tiny model's layers): a few percent of the output scale, not 2e-5.
        BuiltModel built = CheckpointTextEncoder.Build(GraphFixtures.Fixture("clip-l"));
        var settings = new SessionSettings { IntraOpThreads = 1, Quantization = mode };
        float[] exactCompute = Run(built, settings with { QuantizedAccuracyLevel = 0 }, "clip-l");
        float[] integerCompute = Run(built, settings, "clip-l");
        float scale = exactCompute.Max(MathF.Abs);
        float difference = ReferenceTensors.MaxAbsDifference(integerCompute, exactCompute);
        Assert.True(difference > 0 && difference <= 0.05f * Math.Max(1f, scale), $"int8 compute vs float compute: {difference} (output scale {scale})");
    }

    [Fact]
    public void A_quantised_single_file_pipeline_generates_close_to_the_float_one()
    {
        var session = new SessionSettings { IntraOpThreads = 1 };
        var settings = new PipelineSettings { Session = session, ConfigDirectory = GraphFixtures.Fixture("sd1-safetensors") };
        var options = new GenerationOptions { Prompt = "a cat", Steps = 3, Seed = 5 };
        using StableDiffusionPipeline exact = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"), settings);
        using StableDiffusionPipeline int8 = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"),
            settings with { Session = session with { Quantization = WeightQuantization.Int8, QuantizedAccuracyLevel = 0 } }); // weights only: the random
        // tiny model amplifies the int8 activations of the default compute; its quality is measured on the trained demo model
        float[] a = exact.Generate(options).Latents, b = int8.Generate(options).Latents;
        float difference = ReferenceTensors.MaxAbsDifference(a, b);
        Assert.InRange(difference, 1e-6f, 0.05f * a.Max(MathF.Abs));
    }

    [Theory]
    [InlineData(WeightQuantization.Int8, "text_encoder")]
    [InlineData(WeightQuantization.Int4, "unet")]
    public void An_exported_onnx_file_is_quantised_the_same_way(WeightQuantization mode, string component)
    {
        // The demo model, as torch exports it: nn.Linear is a MatMul over an [in, out] weight embedded in the file.
        string path = Path.Combine(Diffusion.Testing.SharedData.RepositoryRoot()!.FullName, "models", "demo-shapes", component, "model.onnx");
        byte[] graph = File.ReadAllBytes(path);
        using LinearWeightQuantizer quantized = LinearWeightQuantizer.Quantize(ref graph, Path.GetDirectoryName(path)!, mode, new HashSet<string>(), "model.onnx", accuracyLevel: 0)!;
        Assert.True(quantized.Count >= 12, $"{quantized.Count} layers quantised");

        var table = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Initializer.ToDictionary(t => t.Name);
        using var dequantized = new WeightOverrides(path);
        foreach (string name in quantized.WeightNames)
        {
            long[] dims = table[name].Dims.ToArray();
            float[] values = quantized.Dequantize(name); // [out, in]
            bool storedInOut = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Node
                .Any(n => n.OpType == "MatMul" && n.Input[1] == name);
            dequantized.Add(name, storedInOut ? Transpose(values, (int)dims[1], (int)dims[0]) : values, dims, TensorElementType.Float, isConvWeight: false);
        }
        var settings = new SessionSettings { IntraOpThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED };
        float[] expected = RunFile(path, settings with { WeightOverrides = [dequantized] }, component);
        float[] actual = RunFile(path, settings with { Quantization = mode, QuantizedAccuracyLevel = 0 }, component);
        float scale = expected.Max(MathF.Abs);
        Assert.True(ReferenceTensors.MaxAbsDifference(actual, expected) <= 2e-5f * Math.Max(1f, scale),
            $"quantised vs dequantised reference: {ReferenceTensors.MaxAbsDifference(actual, expected)} (output scale {scale})");
        float[] exact = RunFile(path, settings, component);
        Assert.True(ReferenceTensors.MaxAbsDifference(actual, exact) > 1e-7f, "quantisation changed nothing");
    }

    [Fact]
    public void Quantisation_is_refused_at_level_all_and_on_a_gpu_provider()
    {
        var all = Assert.Throws<InvalidOptionException>(() => new SessionSettings { Quantization = WeightQuantization.Int4, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL }.Validate());
        Assert.Contains("SessionSettings.Quantization", all.Message, StringComparison.Ordinal);
        Assert.Contains("level", all.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOptionException>(() => new SessionSettings { Quantization = WeightQuantization.Int8, Provider = ExecutionProvider.Cuda() }.Validate());
        Assert.Throws<InvalidOptionException>(() => new SessionSettings { Quantization = (WeightQuantization)7 }.Validate());
    }

    private static float[] Transpose(float[] values, int rows, int columns)
    {
        var result = new float[values.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
                result[c * rows + r] = values[r * columns + c];
        }
        return result;
    }

    private static float[] RunFile(string path, SessionSettings settings, string component)
    {
        using InferenceSession session = SessionFactory.Create(Diffusion.Core.Models.ModelSource.FromFile(path), settings);
        var random = new Random(9);
        float[] Noise(int count) => Enumerable.Range(0, count).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        if (component == "text_encoder")
        {
            using OrtValue ids = session.InputMetadata["input_ids"].ElementDataType == TensorElementType.Int64
                ? OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 2 * 16).Select(i => (long)(i * 7 % 40)).ToArray(), [2, 16])
                : OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 2 * 16).Select(i => i * 7 % 40).ToArray(), [2, 16]);
            using IDisposableReadOnlyCollection<OrtValue> encoded = session.Run(new RunOptions(), ["input_ids"], [ids], [session.OutputNames[0]]);
            return encoded[0].GetTensorDataAsSpan<float>().ToArray();
        }
        using OrtValue sample = OrtValue.CreateTensorValueFromMemory(Noise(2 * 4 * 8 * 8), [2, 4, 8, 8]);
        using OrtValue timestep = OrtValue.CreateTensorValueFromMemory(new[] { 500f, 500f }, [2]);
        using OrtValue context = OrtValue.CreateTensorValueFromMemory(Noise(2 * 16 * 64), [2, 16, 64]);
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), ["sample", "timestep", "encoder_hidden_states"], [sample, timestep, context], [session.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[] Run(BuiltModel built, SessionSettings settings, string fixture)
    {
        using InferenceSession session = SessionFactory.Create(built.ToSource(), settings);
        if (fixture == "sd3-transformer")
            return GraphFixtures.RunSd3Transformer(session);
        NodeMetadata ids = session.InputMetadata["input_ids"];
        long[] shape = [2, 7];
        using OrtValue input = ids.ElementDataType == TensorElementType.Int64
            ? OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 14).Select(i => (long)(i * 3 % 20)).ToArray(), shape)
            : OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 14).Select(i => i * 3 % 20).ToArray(), shape);
        using IDisposableReadOnlyCollection<OrtValue> result = session.Run(new RunOptions(), ["input_ids"], [input], [session.OutputNames[0]]);
        return result[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
