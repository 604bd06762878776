using Diffusion.Core.Execution;
using Diffusion.Core.Graphs.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Rewrites a graph's linear layers and convolutions to compute in int8 (<see cref="SessionSettings.QuantizeActivations"/>):
/// weights int8 per output channel, made here at load into memory this object owns; activations quantised at run time
/// to uint8 per tensor (ONNX's <c>DynamicQuantizeLinear</c>); products summed in int32 by ONNX Runtime's integer GEMM
/// (VNNI/AMX on CPUs that have them) and scaled back to float32.
/// </summary>
/// <remarks>
/// <para>Linear layers (<see cref="LinearWeightQuantizer.LinearLayout"/>) become <c>com.microsoft.DynamicQuantizeMatMul</c>.</para>
/// <para>Convolutions become an im2col over the quantised input followed by <c>com.microsoft.MatMulIntegerToFloat</c>
/// (<see cref="Im2ColConvolution"/>): ONNX Runtime's own integer convolutions either need the output's scale in advance
/// (<c>QLinearConv</c>: a calibration this library would have to guess) or run an unoptimised path (<c>ConvInteger</c>:
/// 3.2 × slower than float32, docs/performance.md); the GEMM after an explicit im2col is its fast integer kernel with a
/// float output.</para>
/// <para>Weights: symmetric per output channel, s_o = max |W_o| / 127, q = round(W / s_o) (as
/// <see cref="ConvWeightQuantizer.QuantizePerChannel"/>). Activations: DynamicQuantizeLinear's asymmetric uint8 over the
/// whole tensor, s = (max(0, max x) − min(0, min x)) / 255, z = round(−min / s). The result equals the float
/// computation with the dequantised weights on the fake-quantised input up to float32 rounding (the tests' reference).</para>
/// </remarks>
internal sealed class Int8ActivationQuantizer : SuppliedInitializers
{
    private readonly Dictionary<string, (long[] Dims, int Channels, nint Codes, nint Scales, bool Conv, bool StoredInOut)> _layers = new(StringComparer.Ordinal);

    private Int8ActivationQuantizer()
    {
    }

    /// <summary>Linear layers rewritten.</summary>
    public int LinearCount { get; private set; }

    /// <summary>Convolutions rewritten.</summary>
    public int ConvolutionCount { get; private set; }

    /// <summary>Bytes of int8 weights and scales held.</summary>
    public long Bytes { get; private set; }

    /// <summary>Names of the weights quantised.</summary>
    public IEnumerable<string> WeightNames => _layers.Keys;

    /// <summary>
    /// Rewrites the linear layers (when <paramref name="linear"/>) and 2-D convolutions (when <paramref name="convolutions"/>)
    /// of <paramref name="graphBytes"/> whose weight is a constant of the graph used by that node alone; null (graph
    /// unchanged) when none is eligible or the graph's opset is below 13. Weights named in <paramref name="keep"/> stay float.
    /// </summary>
    /// <exception cref="WeightFileException">A weight file is missing or shorter than the graph says.</exception>
    public static Int8ActivationQuantizer? Quantize(ref byte[] graphBytes, string externalDataFolder, bool linear, bool convolutions,
        IReadOnlySet<string> keep, string? modelFileName = null)
    {
        ModelProto model = ModelProto.Parser.ParseFrom(graphBytes);
        if (model.OpsetImport.FirstOrDefault(o => o.Domain.Length == 0 || o.Domain == "ai.onnx") is not { Version: >= 13 })
            return null;
        GraphProto graph = model.Graph;
        var index = new GraphWeightIndex(graph);
        var layers = new List<(NodeProto Node, NodeProto? Cast, TensorProto Weight, bool? StoredInOut, Im2ColConvolution? Conv)>();
        long total = 0, largest = 0;
        foreach (NodeProto node in graph.Node)
        {
            bool? storedInOut = linear ? LinearWeightQuantizer.LinearLayout(node) : null;
            Im2ColConvolution? conv = convolutions && storedInOut is null ? Im2ColConvolution.TryCreate(node) : null;
            if ((storedInOut is null && conv is null) || node.Input.Count < 2
                || !index.TryGetConstantWeight(node.Input[1], keep, modelFileName is not null, out NodeProto? cast, out TensorProto weight)
                || weight.Dims.Count != (conv is null ? 2 : 4))
                continue;
            layers.Add((node, cast, weight, storedInOut, conv));
            long elements = weight.Dims.Aggregate(1L, (a, b) => a * b);
            long channels = conv is null ? weight.Dims[storedInOut == true ? 1 : 0] : weight.Dims[0];
            total += Align(elements) + Align(channels * sizeof(float));
            largest = Math.Max(largest, elements);
        }
        if (layers.Count == 0)
            return null;

        var quantized = new Int8ActivationQuantizer { Memory = HugePageMemory.Allocate(total), Bytes = total };
        // Scratch for the largest layer (its float32 values, their transpose, codes and their layout) in native memory
        // given back when done: as GC arrays they stayed in the process (220 MiB more RSS after a real-size SD 1.5 load).
        using var scratch = HugePageMemory.Allocate(largest * (2 * sizeof(float) + 2));
        using var reader = new GraphWeightReader(externalDataFolder);
        var removedNodes = new HashSet<NodeProto>();
        var replacements = new Dictionary<NodeProto, List<NodeProto>>();
        var removedInitializers = new HashSet<string>(StringComparer.Ordinal);
        var constants = new SharedInt64Constants(graph);
        try
        {
            long position = 0;
            foreach ((NodeProto node, NodeProto? cast, TensorProto weight, bool? storedInOut, Im2ColConvolution? conv) in layers)
            {
                long[] dims = weight.Dims.ToArray();
                int elements = checked((int)dims.Aggregate(1L, (a, b) => a * b));
                Span<float> values = scratch.Span<float>(0, elements), rows = scratch.Span<float>(largest * sizeof(float), elements);
                Span<sbyte> codes = scratch.Span<sbyte>(2 * largest * sizeof(float), elements);
                Span<sbyte> reordered = scratch.Span<sbyte>(2 * largest * sizeof(float) + largest, elements);
                reader.Read(weight, values);
                // Quantise per output channel from rows of the output ([out, in…]), then lay the codes out as the GEMM's
                // B matrix: [in, out] for linear layers, [(ky, kx, in), out] for convolutions.
                int channels = checked((int)(conv is not null || storedInOut == false ? dims[0] : dims[1]));
                int perChannel = elements / channels;
                Span<float> outputRows = values;
                if (storedInOut == true)
                {
                    TiledTranspose.Transpose<float>(values, perChannel, channels, rows);
                    outputRows = rows;
                }
                nint codeAddress = quantized.Memory!.Address + (nint)position;
                nint scaleAddress = codeAddress + (nint)Align(elements);
                Span<sbyte> b = quantized.Memory.Span<sbyte>(position, elements);
                ConvWeightQuantizer.QuantizePerChannel(outputRows, channels, perChannel, codes, quantized.Memory.Span<float>(position + Align(elements), channels));
                position += Align(elements) + Align(channels * sizeof(float));
                if (conv is null)
                    TiledTranspose.Transpose<sbyte>(codes, channels, perChannel, b);
                else
                    Im2ColConvolution.LayOutWeights(codes, dims, reordered, b);

                string prefix = $"{node.Name}/int8_{quantized.LinearCount + quantized.ConvolutionCount}_"; // exported nodes may be unnamed
                long[] bDims = [perChannel, channels];
                graph.Initializer.Add(LinearWeightQuantizer.Placeholder(weight, modelFileName, prefix + "weight", TensorProto.Types.DataType.Int8, bDims));
                graph.Initializer.Add(LinearWeightQuantizer.Placeholder(weight, modelFileName, prefix + "scales", TensorProto.Types.DataType.Float, [channels]));
                quantized.Supply(prefix + "weight", OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Int8, bDims, codeAddress, elements));
                quantized.Supply(prefix + "scales", OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [channels], scaleAddress, channels * sizeof(float)));
                string? bias = node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2] : null;
                replacements[node] = conv is null
                    ? LinearNodes(node, prefix, bias, channels, index)
                    : conv.Nodes(prefix, dims, bias, constants);
                if (cast is not null)
                    removedNodes.Add(cast);
                removedInitializers.Add(weight.Name);
                quantized._layers[weight.Name] = (dims, channels, codeAddress, scaleAddress, conv is not null, storedInOut == true);
                if (conv is null)
                    quantized.LinearCount++;
                else
                    quantized.ConvolutionCount++;
            }
        }
        catch
        {
            quantized.Dispose();
            throw;
        }

        GraphEdit.Apply(graph, node => removedNodes.Contains(node) ? [] : replacements.GetValueOrDefault(node) ?? [node], removedInitializers);
        constants.AddTo(graph);
        GraphEdit.ImportContribDomain(model);
        graphBytes = model.ToByteArray();
        return quantized;
    }

    /// <summary>
    /// The float32 values the quantised weight <paramref name="weightName"/> stands for, in the graph's own layout
    /// (tests, error measurements).
    /// </summary>
    public unsafe float[] Dequantize(string weightName)
    {
        (long[] dims, int channels, nint codeAddress, nint scaleAddress, bool conv, bool storedInOut) = _layers[weightName];
        int elements = (int)dims.Aggregate(1L, (a, b) => a * b), perChannel = elements / channels;
        var b = new ReadOnlySpan<sbyte>((void*)codeAddress, elements);
        var scales = new ReadOnlySpan<float>((void*)scaleAddress, channels);
        var result = new float[elements];
        for (int row = 0; row < perChannel; row++)
        {
            for (int o = 0; o < channels; o++)
            {
                float value = b[row * channels + o] * scales[o];
                if (conv)
                    result[Im2ColConvolution.WeightIndex(dims, o, row)] = value;
                else if (storedInOut)
                    result[row * channels + o] = value;
                else
                    result[o * perChannel + row] = value;
            }
        }
        return result;
    }

    /// <summary>DynamicQuantizeMatMul over the int8 [in, out] weight; a bias that is not a 1-D [out] constant is added after.</summary>
    private static List<NodeProto> LinearNodes(NodeProto node, string prefix, string? bias, int channels, GraphWeightIndex index)
    {
        bool fusedBias = bias is not null && index.ConstantBehind(bias) is { Dims.Count: 1 } b && b.Dims[0] == channels;
        var matMul = new NodeProto { OpType = "DynamicQuantizeMatMul", Domain = OnnxGraphBuilder.ContribDomain, Name = prefix + "DynamicQuantizeMatMul" };
        matMul.Input.AddRange([node.Input[0], prefix + "weight", prefix + "scales"]);
        if (fusedBias)
            matMul.Input.AddRange(["", bias!]); // no weight zero point (symmetric), then the bias
        matMul.Output.Add(bias is null || fusedBias ? node.Output[0] : prefix + "product");
        if (bias is null || fusedBias)
            return [matMul];
        var add = new NodeProto { OpType = "Add", Name = prefix + "Bias" };
        add.Input.AddRange([prefix + "product", bias]);
        add.Output.Add(node.Output[0]);
        return [matMul, add];
    }
}
