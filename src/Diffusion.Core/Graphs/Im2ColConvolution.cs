using Diffusion.Core.Graphs.Proto;

namespace Diffusion.Core.Graphs;

/// <summary>
/// One 2-D convolution written as an integer GEMM for <see cref="Int8ActivationQuantizer"/>: the input quantised per tensor
/// to uint8, moved to channels-last, padded with its zero point, and its kernel's shifted windows concatenated along the
/// channels (im2col), so that one <c>com.microsoft.MatMulIntegerToFloat</c> against the int8 weights laid out as
/// [(ky, kx, in), out] computes every output pixel; the float32 result goes back to channels-first.
/// </summary>
/// <remarks>
/// The windows are <c>Slice</c>s with the convolution's strides as steps and ends counted from the padded edge, so the
/// graph keeps any image size (the UNet's inputs are dynamic). Zero padding of the float input is the zero point of the
/// quantised one: both stand for 0.
/// </remarks>
internal sealed class Im2ColConvolution
{
    private readonly NodeProto _conv;
    private readonly long[] _strides, _pads, _dilations;

    private Im2ColConvolution(NodeProto conv, long[] strides, long[] pads, long[] dilations)
    {
        _conv = conv;
        _strides = strides;
        _pads = pads;
        _dilations = dilations;
    }

    /// <summary>
    /// The rewrite of <paramref name="node"/> when it is a plain ONNX <c>Conv</c> this can express: one group, explicit
    /// padding (no <c>auto_pad</c>), two spatial axes where the attributes say; null otherwise (it stays float).
    /// </summary>
    public static Im2ColConvolution? TryCreate(NodeProto node)
    {
        if (node.OpType != "Conv" || node.Domain.Length != 0 || node.Input.Count < 2 || node.Output.Count != 1)
            return null;
        long[] strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1];
        foreach (AttributeProto attribute in node.Attribute)
        {
            switch (attribute.Name)
            {
                case "group" when attribute.I == 1:
                case "auto_pad" when attribute.S.ToStringUtf8() is "NOTSET" or "":
                case "kernel_shape" when attribute.Ints.Count == 2:
                    break;
                case "strides" when attribute.Ints.Count == 2:
                    strides = attribute.Ints.ToArray();
                    break;
                case "pads" when attribute.Ints.Count == 4:
                    pads = attribute.Ints.ToArray();
                    break;
                case "dilations" when attribute.Ints.Count == 2:
                    dilations = attribute.Ints.ToArray();
                    break;
                default:
                    return null;
            }
        }
        return strides.Concat(dilations).All(v => v >= 1) && pads.All(p => p >= 0) ? new Im2ColConvolution(node, strides, pads, dilations) : null;
    }

    /// <summary>
    /// The nodes that replace the convolution, reading the int8 weights <paramref name="prefix"/>weight ([(ky, kx, in), out],
    /// from a weight of <paramref name="weightDims"/> [out, in, kh, kw]) and their scales <paramref name="prefix"/>scales.
    /// </summary>
    public List<NodeProto> Nodes(string prefix, long[] weightDims, string? bias, SharedInt64Constants constants)
    {
        long kh = weightDims[2], kw = weightDims[3];
        string name = prefix.TrimEnd('_'); // unique even where an exported graph left its nodes unnamed
        var nodes = new List<NodeProto>
        {
            Node("DynamicQuantizeLinear", name + "/QuantizeInput", [_conv.Input[0]], [prefix + "x", prefix + "x_scale", prefix + "x_zero_point"]),
            Node("Transpose", name + "/ChannelsLast", [prefix + "x"], [prefix + "x_nhwc"], NodeAttribute.Ints("perm", 0, 2, 3, 1)),
        };
        string input = prefix + "x_nhwc";
        if (_pads.Any(p => p != 0))
        {
            // ONNX Conv pads are [top, left, bottom, right]; Pad's are begins then ends over N, H, W, C.
            string pads = constants.Int64s([0, _pads[0], _pads[1], 0, 0, _pads[2], _pads[3], 0]);
            nodes.Add(Node("Pad", name + "/Pad", [input, pads, prefix + "x_zero_point"], [prefix + "x_padded"]));
            input = prefix + "x_padded";
        }

        var windows = new List<string>();
        bool pointwise = kh * kw == 1 && _strides.All(s => s == 1);
        if (pointwise)
            windows.Add(input); // a 1×1 convolution reads each pixel as it is
        for (long ky = 0; ky < kh && !pointwise; ky++)
        {
            for (long kx = 0; kx < kw; kx++)
            {
                string axes = constants.Int64s([1, 2]), steps = constants.Int64s(_strides);
                string starts = constants.Int64s([ky * _dilations[0], kx * _dilations[1]]);
                string ends = constants.Int64s([End(kh, ky, _dilations[0]), End(kw, kx, _dilations[1])]);
                string window = $"{prefix}window_{ky}_{kx}";
                nodes.Add(Node("Slice", $"{name}/Window_{ky}_{kx}", [input, starts, ends, axes, steps], [window]));
                windows.Add(window);
            }
        }
        string columns = windows[0];
        if (windows.Count > 1)
        {
            columns = prefix + "columns";
            nodes.Add(Node("Concat", name + "/Columns", windows, [columns], NodeAttribute.Int("axis", 3)));
        }
        NodeProto gemm = Node("MatMulIntegerToFloat", name + "/MatMulIntegerToFloat",
            [columns, prefix + "weight", prefix + "x_scale", prefix + "scales", prefix + "x_zero_point", "", bias ?? ""], [prefix + "y_nhwc"]);
        gemm.Domain = OnnxGraphBuilder.ContribDomain;
        if (bias is null)
            gemm.Input.RemoveAt(gemm.Input.Count - 1);
        nodes.Add(gemm);
        nodes.Add(Node("Transpose", name + "/ChannelsFirst", [prefix + "y_nhwc"], [_conv.Output[0]], NodeAttribute.Ints("perm", 0, 3, 1, 2)));
        return nodes;
    }

    /// <summary>
    /// Lays per-channel codes of a [out, in, kh, kw] weight out as the GEMM's B matrix [(ky, kx, in), out];
    /// <paramref name="scratch"/> holds at least as many codes.
    /// </summary>
    public static void LayOutWeights(ReadOnlySpan<sbyte> codes, long[] dims, Span<sbyte> scratch, Span<sbyte> b)
    {
        // Each output's [in, taps] codes to [taps, in] first, then the [out, (taps, in)] matrix transposed as a whole.
        int outputs = (int)dims[0], inputs = (int)dims[1], taps = (int)(dims[2] * dims[3]), perChannel = inputs * taps;
        for (int o = 0; o < outputs; o++)
            TiledTranspose.Transpose(codes.Slice(o * perChannel, perChannel), inputs, taps, scratch.Slice(o * perChannel, perChannel));
        TiledTranspose.Transpose<sbyte>(scratch[..codes.Length], outputs, perChannel, b);
    }

    /// <summary>Index in a [out, in, kh, kw] weight of output <paramref name="output"/> and GEMM row (ky, kx, in) <paramref name="row"/>.</summary>
    public static int WeightIndex(long[] dims, int output, int row)
    {
        int inputs = (int)dims[1], kh = (int)dims[2], kw = (int)dims[3];
        int ky = row / (kw * inputs), kx = row / inputs % kw, input = row % inputs;
        return ((output * inputs + input) * kh + ky) * kw + kx;
    }

    /// <summary>A window's end along one axis, counted back from the padded edge (open-ended for the last tap).</summary>
    private static long End(long kernel, long tap, long dilation) => tap == kernel - 1 ? long.MaxValue : -(kernel - 1 - tap) * dilation;

    private static NodeProto Node(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, NodeAttribute? attribute = null)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        if (attribute is not null)
            node.Attribute.Add(attribute.ToProto());
        return node;
    }
}
