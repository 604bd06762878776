using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Tests.Models;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// Int8 per-output-channel convolution weights (<see cref="SessionSettings.QuantizeConvolutions"/>): the scheme, and
/// quantised graphs (built and exported) against the same graphs computing with the dequantised weights in float32.
/// </summary>
public sealed class ConvWeightQuantizerTests
{
    [Fact]
    public void Each_channel_is_within_half_a_step_and_its_largest_weight_is_exact()
    {
        const int channels = 4, perChannel = 75; // two blocks of the vectorised rounding and a tail
        var random = new Random(3);
        float[] weights = Enumerable.Range(0, channels * perChannel).Select(i => (float)(random.NextDouble() * 2 - 1) * (i / perChannel + 1)).ToArray();
        weights[perChannel * 2 + 5] = 0f;
        Array.Fill(weights, 0f, perChannel * 3, perChannel); // an all-zero channel
        var codes = new sbyte[weights.Length];
        var scales = new float[channels];
        ConvWeightQuantizer.QuantizePerChannel(weights, channels, perChannel, codes, scales);
        for (int o = 0; o < channels; o++)
        {
            float largest = weights.AsSpan(o * perChannel, perChannel).ToArray().Max(MathF.Abs);
            for (int i = 0; i < perChannel; i++)
            {
                float w = weights[o * perChannel + i], restored = codes[o * perChannel + i] * scales[o];
                Assert.InRange(MathF.Abs(restored - w), 0f, scales[o] / 2 * 1.0001f);
                if (MathF.Abs(w) == largest && largest > 0)
                    Assert.True(Math.Abs((int)codes[o * perChannel + i]) == 127, $"channel {o} element {i}: w {w}, largest {largest}, scale {scales[o]}, code {codes[o * perChannel + i]}");
            }
        }
        Assert.All(codes.AsSpan(perChannel * 3, perChannel).ToArray(), c => Assert.Equal(0, c));
    }

    [Fact]
    public void A_built_vae_decoder_computes_what_its_dequantised_weights_compute()
    {
        BuiltModel built = CheckpointVae.BuildDecoder(GraphFixtures.Fixture("vae"));
        byte[] graph = built.Graph;
        using ConvWeightQuantizer quantized = ConvWeightQuantizer.Quantize(ref graph, built.ExternalDataFolder!, new HashSet<string>())!;
        Assert.True(quantized.Count >= 5, $"{quantized.Count} convolutions quantised");
        AssertMatchesDequantised(built.ToSource(), quantized, built.Graph, Decode);
    }

    [Fact]
    public void An_exported_unet_computes_what_its_dequantised_weights_compute()
    {
        string path = Path.Combine(Diffusion.Testing.SharedData.RepositoryRoot()!.FullName, "models", "demo-shapes", "unet", "model.onnx");
        byte[] graph = File.ReadAllBytes(path);
        using ConvWeightQuantizer quantized = ConvWeightQuantizer.Quantize(ref graph, Path.GetDirectoryName(path)!, new HashSet<string>(), "model.onnx")!;
        Assert.True(quantized.Count >= 10, $"{quantized.Count} convolutions quantised");
        AssertMatchesDequantised(Diffusion.Core.Models.ModelSource.FromFile(path), quantized, File.ReadAllBytes(path), Denoise);
    }

    private static void AssertMatchesDequantised(Diffusion.Core.Models.ModelSource source, ConvWeightQuantizer quantized, byte[] original,
        Func<InferenceSession, float[]> run)
    {
        var table = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(original).Graph.Initializer.ToDictionary(t => t.Name);
        using var dequantized = new WeightOverrides(source.Description);
        foreach (string name in quantized.WeightNames)
            dequantized.Add(name, quantized.Dequantize(name), table[name].Dims.ToArray(), TensorElementType.Float, isConvWeight: true);
        var settings = new SessionSettings { IntraOpThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED };
        float[] expected, actual, exact;
        using (InferenceSession session = SessionFactory.Create(source, settings with { WeightOverrides = [dequantized] }))
            expected = run(session);
        using (InferenceSession session = SessionFactory.Create(source, settings with { QuantizeConvolutions = true }))
            actual = run(session);
        using (InferenceSession session = SessionFactory.Create(source, settings))
            exact = run(session);
        float scale = expected.Max(MathF.Abs);
        Assert.True(ReferenceTensors.MaxAbsDifference(actual, expected) <= 1e-5f * Math.Max(1f, scale),
            $"quantised vs dequantised reference: {ReferenceTensors.MaxAbsDifference(actual, expected)} (output scale {scale})");
        Assert.True(ReferenceTensors.MaxAbsDifference(actual, exact) > 1e-7f, "quantisation changed nothing");
    }

    private static float[] Decode(InferenceSession session)
    {
        var random = new Random(4);
        using OrtValue latents = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 4 * 8 * 8).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray(), [1, 4, 8, 8]);
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), [session.InputNames[0]], [latents], [session.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[] Denoise(InferenceSession session)
    {
        var random = new Random(9);
        float[] Noise(int count) => Enumerable.Range(0, count).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        using OrtValue sample = OrtValue.CreateTensorValueFromMemory(Noise(2 * 4 * 8 * 8), [2, 4, 8, 8]);
        using OrtValue timestep = OrtValue.CreateTensorValueFromMemory(new[] { 500f, 500f }, [2]);
        using OrtValue context = OrtValue.CreateTensorValueFromMemory(Noise(2 * 16 * 64), [2, 16, 64]);
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), ["sample", "timestep", "encoder_hidden_states"], [sample, timestep, context], [session.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
