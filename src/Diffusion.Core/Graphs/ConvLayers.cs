namespace Diffusion.Core.Graphs;

/// <summary>
/// The convolutional layers of diffusers' UNets and VAEs as ONNX nodes over checkpoint weights on <c>[N, C, H, W]</c>
/// activations, each under its module's scope: <c>nn.Conv2d</c>, <c>nn.GroupNorm</c>, SiLU, nearest 2× upsampling.
/// </summary>
internal static class ConvLayers
{
    /// <summary>
    /// <c>nn.Conv2d(inChannels, outChannels, kernel, stride, padding)</c>: weights <c>{module}.weight</c> [out, in, k, k]
    /// and <c>{module}.bias</c>. <paramref name="pads"/> is ONNX's [top, left, bottom, right] (torch's symmetric padding
    /// or the asymmetric (0, 1, 0, 1) of diffusers' VAE downsampler).
    /// </summary>
    public static GraphValue Conv2d(this OnnxGraphBuilder graph, GraphValue x, string module, long inChannels, long outChannels, int kernel,
        int stride = 1, long[]? pads = null)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        long padding = kernel / 2;
        return graph.Node("Conv",
            [x, graph.Weight(module + ".weight", outChannels, inChannels, kernel, kernel), graph.Weight(module + ".bias", outChannels)],
            NodeAttribute.Ints("kernel_shape", kernel, kernel), NodeAttribute.Ints("strides", stride, stride),
            NodeAttribute.Ints("pads", pads ?? [padding, padding, padding, padding]));
    }

    /// <summary>
    /// <c>nn.GroupNorm(groups, channels, eps)</c>, as torch's exporter writes it below opset 18: the activations viewed
    /// as [N, groups, rest], InstanceNormalization per group, the shape restored, then the per-channel scale and bias.
    /// </summary>
    public static GraphValue GroupNorm(this OnnxGraphBuilder graph, GraphValue x, string module, long groups, long channels, float epsilon)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        GraphValue grouped = graph.Node("Reshape", [x, graph.Int64s([0, groups, -1])]);
        GraphValue normed = graph.Node("InstanceNormalization",
            [grouped, graph.Constant(Enumerable.Repeat(1f, (int)groups).ToArray(), groups), graph.Constant(new float[groups], groups)],
            NodeAttribute.Float("epsilon", epsilon));
        GraphValue restored = graph.Node("Reshape", [normed, graph.Node("Shape", [x])]);
        GraphValue perChannel = graph.Int64s([channels, 1, 1]);
        GraphValue scale = graph.Node("Reshape", [graph.Weight(module + ".weight", channels), perChannel]);
        GraphValue bias = graph.Node("Reshape", [graph.Weight(module + ".bias", channels), perChannel]);
        return graph.Node("Add", [graph.Node("Mul", [restored, scale]), bias]);
    }

    /// <summary>SiLU (x·σ(x)), diffusers' <c>act_fn = "silu"</c>.</summary>
    public static GraphValue Silu(this OnnxGraphBuilder graph, GraphValue x) => graph.Node("Mul", [x, graph.Node("Sigmoid", [x])]);

    /// <summary><c>F.interpolate(x, scale_factor=2, mode="nearest")</c>: each pixel repeated 2×2.</summary>
    public static GraphValue UpsampleNearest2x(this OnnxGraphBuilder graph, GraphValue x)
        => graph.Node("Resize", [x, new GraphValue(string.Empty), graph.Constant([1f, 1f, 2f, 2f], 4)],
            NodeAttribute.String("mode", "nearest"), NodeAttribute.String("coordinate_transformation_mode", "asymmetric"),
            NodeAttribute.String("nearest_mode", "floor"));
}
