using Diffusion.Core.Execution;
using Diffusion.Core.Graphs.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Rewrites a graph's linear layers (a <c>Gemm</c> over an [out, in] or [in, out] weight, or a <c>MatMul</c> over a 2-D
/// [in, out] weight, as a built graph or torch's exporter writes <c>nn.Linear</c>) into ONNX Runtime's
/// <c>com.microsoft.MatMulNBits</c> over 8- or 4-bit block-quantised weights computed here, held in memory this object
/// owns and handed over with <see cref="SessionOptions.AddInitializer"/>. The weights come from the checkpoint or an
/// external-data file, or from the model file itself where they are embedded.
/// </summary>
/// <remarks>
/// Per output row, each block of <see cref="BlockSize"/> input weights w gets the range [min(0, min w), max(0, max w)]
/// (zero kept exactly representable), scale s = (max − min) / (2^bits − 1), zero point z = round(−min / s) and
/// q = clamp(round(w / s) + z, 0, 2^bits − 1); ONNX Runtime computes with (q − z)·s. This is the round-to-nearest
/// asymmetric scheme of ONNX Runtime's own <c>MatMulNBitsQuantizer</c> (its default), at the block size stable-diffusion.cpp's
/// q8_0/q4_1 use. Placeholders keep the source weight's external-data reference (whose byte length never equals a
/// quantised tensor's), so a read of one by ONNX Runtime would fail the session instead of computing with wrong values.
/// </remarks>
internal sealed class LinearWeightQuantizer : SuppliedInitializers
{
    /// <summary>Input features per quantisation block.</summary>
    public const int BlockSize = 32;

    /// <summary>
    /// MatMulNBits' <c>accuracy_level</c> 4: activations quantised per block to int8, integer dot products. Why the default:
    /// at level 0 ONNX Runtime 1.32 has no packed CPU kernel for 8-bit weights and dequantises them on every run — a
    /// real-size SD3-medium transformer step took 18–19 s against 2.2 s in float32; at level 4, 1.84–1.94 s (int8) and
    /// 1.77 s (int4). The demo model's images stay at 43.3 dB (int8) and 27.1 dB (int4) against float32
    /// (docs/performance.md).
    /// </summary>
    public const int Int8Compute = 4;

    private readonly Dictionary<string, (long Rows, long Columns, int Bits, nint Data, nint Scales, nint ZeroPoints)> _layers = new(StringComparer.Ordinal);

    private LinearWeightQuantizer()
    {
    }

    /// <summary>Linear layers rewritten.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes of quantised weights, scales and zero points held.</summary>
    public long Bytes { get; private set; }

    /// <summary>Float32 bytes the rewritten layers' weights would have taken.</summary>
    public long Float32Bytes { get; private set; }

    /// <summary>
    /// Rewrites every eligible linear layer of <paramref name="graphBytes"/> for <paramref name="mode"/>, reading its weight
    /// from <paramref name="externalDataFolder"/>; null (graph unchanged) when none is eligible. Weights named in
    /// <paramref name="keep"/> (replaced by the session's LoRA or textual-inversion overrides) stay float.
    /// </summary>
    /// <exception cref="WeightFileException">A weight file is missing or shorter than the graph says.</exception>
    /// <remarks>
    /// <paramref name="accuracyLevel"/> is MatMulNBits' <c>accuracy_level</c>: <see cref="Int8Compute"/> (the default) quantises
    /// each block of activations to int8 as well and runs ONNX Runtime's integer kernels; 0 computes in float32 with the
    /// dequantised weights (exact against them: the tests' reference).
    /// <paramref name="modelFileName"/> is the model file's name in <paramref name="externalDataFolder"/> when the graph
    /// was read from one: placeholders of weights embedded in it point there (ONNX Runtime checks that an external-data
    /// file exists). Without it, embedded weights are left as they are.
    /// </remarks>
    public static LinearWeightQuantizer? Quantize(ref byte[] graphBytes, string externalDataFolder, WeightQuantization mode, IReadOnlySet<string> keep,
        string? modelFileName = null, int accuracyLevel = Int8Compute)
    {
        if (mode == WeightQuantization.None)
            return null;
        int bits = mode == WeightQuantization.Int8 ? 8 : 4;
        ModelProto model = ModelProto.Parser.ParseFrom(graphBytes);
        GraphProto graph = model.Graph;
        var index = new GraphWeightIndex(graph);
        var layers = new List<(NodeProto Node, NodeProto? Cast, TensorProto Weight, bool StoredInOut)>();
        long total = 0, largest = 0;
        foreach (NodeProto node in graph.Node)
        {
            if (LinearLayout(node) is not bool storedInOut
                || !index.TryGetConstantWeight(node.Input[1], keep, modelFileName is not null, out NodeProto? cast, out TensorProto weight) || weight.Dims.Count != 2)
                continue;
            layers.Add((node, cast, weight, storedInOut));
            (long n, long k) = storedInOut ? (weight.Dims[1], weight.Dims[0]) : (weight.Dims[0], weight.Dims[1]);
            long blocks = (k + BlockSize - 1) / BlockSize;
            total += SuppliedInitializers.Align(n * blocks * BlockSize * bits / 8) + SuppliedInitializers.Align(n * blocks * sizeof(float)) + SuppliedInitializers.Align(ZeroPointBytes(n, blocks, bits));
            largest = Math.Max(largest, n * k);
        }
        if (layers.Count == 0)
            return null;

        var quantized = new LinearWeightQuantizer { Memory = HugePageMemory.Allocate(total), Bytes = total };
        using var scratch = HugePageMemory.Allocate(largest * 2 * sizeof(float)); // given back when done (see Int8ActivationQuantizer)
        using var reader = new GraphWeightReader(externalDataFolder);
        var removedNodes = new HashSet<NodeProto>();
        var replacements = new Dictionary<NodeProto, NodeProto>();
        var removedInitializers = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            long position = 0;
            foreach ((NodeProto gemm, NodeProto? cast, TensorProto weight, bool storedInOut) in layers)
            {
                (long rows, long columns) = (weight.Dims[0], weight.Dims[1]);
                Span<float> values = scratch.Span<float>(0, checked((int)(rows * columns)));
                Span<float> transposed = scratch.Span<float>(largest * sizeof(float), (int)(rows * columns));
                reader.Read(weight, values);
                // MatMul weights are stored [in, out]; MatMulNBits takes rows of the output, so transpose them first.
                (long n, long k) = storedInOut ? (columns, rows) : (rows, columns);
                Span<float> matrix = values;
                if (storedInOut)
                {
                    TiledTranspose.Transpose<float>(values, (int)rows, (int)columns, transposed);
                    matrix = transposed;
                }

                long blocks = (k + BlockSize - 1) / BlockSize;
                long dataBytes = n * blocks * BlockSize * bits / 8, scaleBytes = n * blocks * sizeof(float), zeroBytes = ZeroPointBytes(n, blocks, bits);
                nint data = quantized.Memory!.Address + (nint)position;
                nint scales = data + (nint)SuppliedInitializers.Align(dataBytes);
                nint zeros = scales + (nint)SuppliedInitializers.Align(scaleBytes);
                position += SuppliedInitializers.Align(dataBytes) + SuppliedInitializers.Align(scaleBytes) + SuppliedInitializers.Align(zeroBytes);
                unsafe
                {
                    BlockQuantizer.Quantize(matrix, (int)n, (int)k, bits,
                        new Span<byte>((void*)data, (int)dataBytes), new Span<float>((void*)scales, (int)(n * blocks)), new Span<byte>((void*)zeros, (int)zeroBytes));
                }

                string prefix = gemm.Name + "/quantized_";
                quantized.Add(graph, weight, modelFileName, prefix + "weight", TensorProto.Types.DataType.Uint8, [n, blocks, BlockSize * bits / 8], data, dataBytes);
                quantized.Add(graph, weight, modelFileName, prefix + "scales", TensorProto.Types.DataType.Float, [n * blocks], scales, scaleBytes);
                quantized.Add(graph, weight, modelFileName, prefix + "zero_points", TensorProto.Types.DataType.Uint8, [zeroBytes], zeros, zeroBytes);
                var matMul = new NodeProto { OpType = "MatMulNBits", Domain = OnnxGraphBuilder.ContribDomain, Name = gemm.Name + "/MatMulNBits" };
                matMul.Input.AddRange([gemm.Input[0], prefix + "weight", prefix + "scales", prefix + "zero_points"]);
                if (gemm.Input.Count > 2)
                    matMul.Input.AddRange(["", gemm.Input[2]]); // g_idx omitted, then the bias
                matMul.Output.Add(gemm.Output[0]);
                matMul.Attribute.Add(NodeAttribute.Int("K", k).ToProto());
                matMul.Attribute.Add(NodeAttribute.Int("N", n).ToProto());
                matMul.Attribute.Add(NodeAttribute.Int("bits", bits).ToProto());
                matMul.Attribute.Add(NodeAttribute.Int("block_size", BlockSize).ToProto());
                matMul.Attribute.Add(NodeAttribute.Int("accuracy_level", accuracyLevel).ToProto());
                replacements[gemm] = matMul;
                if (cast is not null)
                    removedNodes.Add(cast);
                removedInitializers.Add(weight.Name);
                quantized._layers[weight.Name] = (n, k, bits, data, scales, zeros);
                quantized.Count++;
                quantized.Float32Bytes += n * k * sizeof(float);
            }
        }
        catch
        {
            quantized.Dispose();
            throw;
        }

        GraphEdit.Apply(graph, node => removedNodes.Contains(node) ? [] : [replacements.GetValueOrDefault(node, node)], removedInitializers);
        GraphEdit.ImportContribDomain(model);
        graphBytes = model.ToByteArray();
        return quantized;
    }

    /// <summary>Names of the checkpoint weights quantised.</summary>
    public IEnumerable<string> WeightNames => _layers.Keys;

    /// <summary>The float32 values the quantised weight <paramref name="weightName"/> stands for (tests, error measurements).</summary>
    public unsafe float[] Dequantize(string weightName)
    {
        (long rows, long columns, int bits, nint data, nint scales, nint zeros) = _layers[weightName];
        long blocks = (columns + BlockSize - 1) / BlockSize;
        return BlockQuantizer.Dequantize(new ReadOnlySpan<byte>((void*)data, (int)(rows * blocks * BlockSize * bits / 8)),
            new ReadOnlySpan<float>((void*)scales, (int)(rows * blocks)), new ReadOnlySpan<byte>((void*)zeros, (int)ZeroPointBytes(rows, blocks, bits)),
            (int)rows, (int)columns, bits);
    }

    /// <summary>Zero points: one byte per block at 8 bits; at 4 bits two blocks per byte, each row padded to a whole byte.</summary>
    private static long ZeroPointBytes(long rows, long blocks, int bits) => bits == 8 ? rows * blocks : rows * ((blocks + 1) / 2);

    /// <summary>
    /// Whether <paramref name="node"/> is a linear layer over its second input, and how that weight is stored: a Gemm
    /// computing x·Wᵀ (+ b) over [out, in] (false: the builder's and exporters' <c>transB = 1</c>) or x·W (+ b) over
    /// [in, out] (true), or a 2-D MatMul x·W over [in, out] (true: torch exports nn.Linear so). Null otherwise.
    /// </summary>
    internal static bool? LinearLayout(NodeProto node)
    {
        if (node.Domain.Length != 0)
            return null;
        if (node.OpType == "MatMul" && node.Input.Count == 2)
            return true;
        if (node.OpType != "Gemm" || node.Input.Count < 2 || node.Input.Count > 3)
            return null;
        bool transB = false;
        foreach (AttributeProto attribute in node.Attribute)
        {
            switch (attribute.Name)
            {
                case "transB": transB = attribute.I == 1; break;
                case "transA" when attribute.I == 0: break;
                case "alpha" or "beta" when attribute.F == 1f: break;
                default: return null;
            }
        }
        return !transB;
    }

    private void Add(GraphProto graph, TensorProto source, string? modelFileName, string name, TensorProto.Types.DataType type, long[] dims, nint address, long bytes)
    {
        graph.Initializer.Add(Placeholder(source, modelFileName, name, type, dims));
        TensorElementType element = type == TensorProto.Types.DataType.Float ? TensorElementType.Float : TensorElementType.UInt8;
        Supply(name, OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, element, dims, address, bytes));
    }

    /// <summary>
    /// The graph's declaration of a tensor whose values the session gets from memory: it keeps <paramref name="source"/>'s
    /// external-data reference, or for an embedded source points at the model file's first byte with length 1 — in both
    /// cases a byte length no quantised tensor has, so a read by ONNX Runtime would fail the session.
    /// </summary>
    internal static TensorProto Placeholder(TensorProto source, string? modelFileName, string name, TensorProto.Types.DataType type, long[] dims)
    {
        TensorProto placeholder;
        if (source.DataLocation == TensorProto.Types.DataLocation.External)
        {
            placeholder = source.Clone();
            placeholder.Dims.Clear();
        }
        else
        {
            placeholder = new TensorProto { DataLocation = TensorProto.Types.DataLocation.External };
            placeholder.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = modelFileName });
            placeholder.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "0" });
            placeholder.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "1" });
        }
        placeholder.Name = name;
        placeholder.DataType = (int)type;
        placeholder.Dims.AddRange(dims);
        return placeholder;
    }
}
