using Diffusion.Core.Execution;
using Diffusion.Core.Graphs.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Stores a graph's convolution weights as int8 per output channel (<see cref="SessionSettings.QuantizeConvolutions"/>):
/// each <c>Conv</c>'s weight becomes a <c>DequantizeLinear</c> (axis 0) of int8 values and one float32 scale per output
/// channel, made here at load into memory this object owns and handed over with <see cref="SessionOptions.AddInitializer"/>.
/// </summary>
/// <remarks>
/// Symmetric: s_o = max |W_o| / 127, q = clamp(round(W / s_o), −127, 127), zero point 0. ONNX Runtime keeps a
/// DequantizeLinear of a constant unfolded (its constant folding skips them, so that quantised models stay quantised) and
/// dequantises each weight when its convolution runs: a quarter of the float32 weight memory, for a per-step cost measured
/// in docs/performance.md. Placeholders as in <see cref="LinearWeightQuantizer.Placeholder"/>.
/// </remarks>
internal sealed class ConvWeightQuantizer : SuppliedInitializers
{
    private readonly Dictionary<string, (long Channels, long PerChannel, nint Codes, nint Scales)> _layers = new(StringComparer.Ordinal);

    private ConvWeightQuantizer()
    {
    }

    /// <summary>Convolutions rewritten.</summary>
    public int Count => _layers.Count;

    /// <summary>Bytes of int8 weights and scales held.</summary>
    public long Bytes { get; private set; }

    /// <summary>Names of the weights quantised.</summary>
    public IEnumerable<string> WeightNames => _layers.Keys;

    /// <summary>
    /// Rewrites every convolution of <paramref name="graphBytes"/> whose weight is a constant of the graph (float32, or
    /// float16/bfloat16 behind a Cast) used by it alone; null (graph unchanged) when there is none or the graph's opset is
    /// below 13 (per-axis DequantizeLinear). Weights named in <paramref name="keep"/> stay as they are.
    /// </summary>
    /// <exception cref="WeightFileException">A weight file is missing or shorter than the graph says.</exception>
    public static ConvWeightQuantizer? Quantize(ref byte[] graphBytes, string externalDataFolder, IReadOnlySet<string> keep, string? modelFileName = null)
    {
        ModelProto model = ModelProto.Parser.ParseFrom(graphBytes);
        if (model.OpsetImport.FirstOrDefault(o => o.Domain.Length == 0 || o.Domain == "ai.onnx") is not { Version: >= 13 })
            return null;
        GraphProto graph = model.Graph;
        var index = new GraphWeightIndex(graph);
        var layers = new List<(NodeProto Conv, NodeProto? Cast, TensorProto Weight)>();
        long total = 0, largest = 0;
        foreach (NodeProto node in graph.Node)
        {
            if (node.OpType != "Conv" || node.Domain.Length != 0 || node.Input.Count < 2
                || !index.TryGetConstantWeight(node.Input[1], keep, modelFileName is not null, out NodeProto? cast, out TensorProto weight) || weight.Dims.Count < 3)
                continue;
            layers.Add((node, cast, weight));
            long elements = weight.Dims.Aggregate(1L, (a, b) => a * b);
            total += SuppliedInitializers.Align(elements) + SuppliedInitializers.Align(weight.Dims[0] * sizeof(float));
            largest = Math.Max(largest, elements);
        }
        if (layers.Count == 0)
            return null;

        var quantized = new ConvWeightQuantizer { Memory = HugePageMemory.Allocate(total), Bytes = total };
        using var scratch = HugePageMemory.Allocate(largest * sizeof(float)); // given back when done (see Int8ActivationQuantizer)
        using var reader = new GraphWeightReader(externalDataFolder);
        var removedNodes = new HashSet<NodeProto>();
        var removedInitializers = new HashSet<string>(StringComparer.Ordinal);
        var added = new List<(NodeProto Before, NodeProto Dequantize)>();
        try
        {
            long position = 0;
            foreach ((NodeProto conv, NodeProto? cast, TensorProto weight) in layers)
            {
                long elements = weight.Dims.Aggregate(1L, (a, b) => a * b);
                long channels = weight.Dims[0], perChannel = elements / channels;
                Span<float> values = scratch.Span<float>(0, checked((int)elements));
                reader.Read(weight, values);
                nint codes = quantized.Memory!.Address + (nint)position;
                nint scales = codes + (nint)SuppliedInitializers.Align(elements);
                position += SuppliedInitializers.Align(elements) + SuppliedInitializers.Align(channels * sizeof(float));
                unsafe
                {
                    QuantizePerChannel(values, (int)channels, (int)perChannel,
                        new Span<sbyte>((void*)codes, (int)elements), new Span<float>((void*)scales, (int)channels));
                }

                string prefix = conv.Name + "/quantized_";
                long[] dims = weight.Dims.ToArray();
                graph.Initializer.Add(LinearWeightQuantizer.Placeholder(weight, modelFileName, prefix + "weight", TensorProto.Types.DataType.Int8, dims));
                graph.Initializer.Add(LinearWeightQuantizer.Placeholder(weight, modelFileName, prefix + "scales", TensorProto.Types.DataType.Float, [channels]));
                quantized.Supply(prefix + "weight", OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Int8, dims, codes, elements));
                quantized.Supply(prefix + "scales", OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [channels], scales, channels * sizeof(float)));
                var dequantize = new NodeProto { OpType = "DequantizeLinear", Name = conv.Name + "/DequantizeLinear" };
                dequantize.Input.AddRange([prefix + "weight", prefix + "scales"]);
                dequantize.Output.Add(prefix + "dequantized");
                dequantize.Attribute.Add(NodeAttribute.Int("axis", 0).ToProto());
                added.Add((conv, dequantize));
                conv.Input[1] = prefix + "dequantized";
                if (cast is not null)
                    removedNodes.Add(cast);
                removedInitializers.Add(weight.Name);
                quantized._layers[weight.Name] = (channels, perChannel, codes, scales);
            }
        }
        catch
        {
            quantized.Dispose();
            throw;
        }

        var before = added.ToDictionary(a => a.Before, a => a.Dequantize);
        // Topological order: each DequantizeLinear just before its Conv.
        GraphEdit.Apply(graph, node => removedNodes.Contains(node) ? []
            : before.TryGetValue(node, out NodeProto? dequantize) ? [dequantize, node] : [node], removedInitializers);
        graphBytes = model.ToByteArray();
        return quantized;
    }

    /// <summary>The float32 values the quantised weight <paramref name="weightName"/> stands for (tests, error measurements).</summary>
    public unsafe float[] Dequantize(string weightName)
    {
        (long channels, long perChannel, nint codes, nint scales) = _layers[weightName];
        var result = new float[channels * perChannel];
        var q = new ReadOnlySpan<sbyte>((void*)codes, result.Length);
        var s = new ReadOnlySpan<float>((void*)scales, (int)channels);
        for (long i = 0; i < result.Length; i++)
            result[i] = q[(int)i] * s[(int)(i / perChannel)];
        return result;
    }

    /// <summary>Symmetric int8 per output channel (see the class remarks).</summary>
    internal static void QuantizePerChannel(ReadOnlySpan<float> weights, int channels, int perChannel, Span<sbyte> codes, Span<float> scales)
    {
        for (int o = 0; o < channels; o++)
        {
            ReadOnlySpan<float> row = weights.Slice(o * perChannel, perChannel);
            float max = MathF.Abs(TensorPrimitives.MaxMagnitude(row)); // the signed value of largest magnitude
            float scale = max > 0 ? max / 127f : 1f;
            RoundToCodes(row, 1f / scale, codes.Slice(o * perChannel, perChannel));
            scales[o] = scale;
        }
    }

    /// <summary>
    /// codes = clamp(round(values · inverse), −127, 127), rounding half to even. Written with Vector256 because a real-size
    /// UNet has 860 M weights and TensorPrimitives' float → sbyte conversions run element by element (1–1.5 ns each here).
    /// Adding and subtracting 1.5 · 2²³ rounds a float of magnitude below 2²² to an integer, half to even, in the default
    /// rounding mode; the clamp comes first, so that holds.
    /// </summary>
    private static void RoundToCodes(ReadOnlySpan<float> values, float inverse, Span<sbyte> codes)
    {
        const float RoundingShift = 12582912f; // 1.5 · 2^23
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> scale = Vector256.Create(inverse), low = Vector256.Create(-127f), high = Vector256.Create(127f), shift = Vector256.Create(RoundingShift);
            ref float source = ref MemoryMarshal.GetReference(values);
            ref sbyte target = ref MemoryMarshal.GetReference(codes);
            for (; i <= values.Length - 32; i += 32)
            {
                Vector256<int> a = Convert(Vector256.LoadUnsafe(ref source, (nuint)i)), b = Convert(Vector256.LoadUnsafe(ref source, (nuint)(i + 8)));
                Vector256<int> c = Convert(Vector256.LoadUnsafe(ref source, (nuint)(i + 16))), d = Convert(Vector256.LoadUnsafe(ref source, (nuint)(i + 24)));
                Vector256.Narrow(Vector256.Narrow(a, b), Vector256.Narrow(c, d)).StoreUnsafe(ref target, (nuint)i);
            }

            Vector256<int> Convert(Vector256<float> v) => Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(v * scale, low), high) + shift - shift);
        }
        for (; i < values.Length; i++)
            codes[i] = (sbyte)Math.Clamp((int)MathF.Round(values[i] * inverse, MidpointRounding.ToEven), -127, 127);
    }
}
