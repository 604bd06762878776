namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// The blocks of diffusers' VAE encoder and decoder: <c>ResnetBlock2D</c> without a time embedding, the mid block's
/// single-head spatial <c>Attention</c>, and <c>UNetMidBlock2D</c> (ResNet, attention, ResNet).
/// </summary>
internal static class VaeBlocks
{
    /// <summary>
    /// <c>ResnetBlock2D</c>: GroupNorm, SiLU, 3×3 conv, twice, plus the input (through a 1×1 <c>conv_shortcut</c> when the
    /// channel count changes).
    /// </summary>
    public static GraphValue Resnet(OnnxGraphBuilder graph, GraphValue x, string module, long inChannels, long outChannels, long groups)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        float eps = AutoencoderKlConfig.Epsilon;
        GraphValue h = graph.Conv2d(graph.Silu(graph.GroupNorm(x, module + ".norm1", groups, inChannels, eps)), module + ".conv1", inChannels, outChannels, 3);
        h = graph.Conv2d(graph.Silu(graph.GroupNorm(h, module + ".norm2", groups, outChannels, eps)), module + ".conv2", outChannels, outChannels, 3);
        GraphValue shortcut = inChannels == outChannels ? x : graph.Conv2d(x, module + ".conv_shortcut", inChannels, outChannels, 1);
        return graph.Node("Add", [shortcut, h]);
    }

    /// <summary>
    /// <c>UNetMidBlock2D</c> with one layer: ResNet, (attention), ResNet at <paramref name="channels"/>.
    /// </summary>
    public static GraphValue MidBlock(OnnxGraphBuilder graph, GraphValue x, string module, long channels, long groups, bool attention)
    {
        using IDisposable scope = graph.Scope("mid_block");
        x = Resnet(graph, x, module + ".resnets.0", channels, channels, groups);
        if (attention)
            x = SpatialAttention(graph, x, module + ".attentions.0", channels, groups);
        return Resnet(graph, x, module + ".resnets.1", channels, channels, groups);
    }

    /// <summary>
    /// diffusers' <c>Attention</c> as the VAE mid block uses it: GroupNorm, every pixel a token of width C, one head,
    /// softmax(q·kᵀ/√C)·v, <c>to_out.0</c>, plus the input. Weights named <c>to_q</c>/<c>to_k</c>/<c>to_v</c>/<c>to_out.0</c>,
    /// or <c>query</c>/<c>key</c>/<c>value</c>/<c>proj_attn</c> as older diffusers VAE files have them (diffusers renames on load).
    /// </summary>
    public static GraphValue SpatialAttention(OnnxGraphBuilder graph, GraphValue x, string module, long channels, long groups)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        bool legacy = !graph.HasWeight(module + ".to_q.weight") && graph.HasWeight(module + ".query.weight");
        string Name(string current, string old) => module + "." + (legacy ? old : current);

        GraphValue shape = graph.Node("Shape", [x]);
        GraphValue tokens3d = graph.Node("Concat", [graph.Node("Slice", [shape, graph.Int64s([0]), graph.Int64s([1])]), graph.Int64s([-1, channels])], NodeAttribute.Int("axis", 0));
        GraphValue normed = graph.GroupNorm(x, module + ".group_norm", groups, channels, AutoencoderKlConfig.Epsilon);
        // [N, C, H, W] → [N, H·W, C] → [N·H·W, C] for the Gemm projections.
        GraphValue tokens = graph.Node("Transpose", [graph.Node("Reshape", [normed, graph.Int64s([0, channels, -1])])], NodeAttribute.Ints("perm", 0, 2, 1));
        GraphValue rows = graph.Node("Reshape", [tokens, graph.Int64s([-1, channels])]);
        GraphValue Project(string current, string old) => graph.Node("Reshape", [graph.Linear(rows, Name(current, old), channels, channels), tokens3d]);
        GraphValue query = Project("to_q", "query");
        GraphValue key = Project("to_k", "key");
        GraphValue value = Project("to_v", "value");
        GraphValue product = graph.Node("MatMul", [query, graph.Node("Transpose", [key], NodeAttribute.Ints("perm", 0, 2, 1))]);
        GraphValue scores = graph.Node("Mul", [product, graph.Scalar(ClipTextModelGraph.AttentionScale(channels))]);
        GraphValue context = graph.Node("MatMul", [graph.Node("Softmax", [scores], NodeAttribute.Int("axis", -1)), value]);
        GraphValue projected = graph.Linear(graph.Node("Reshape", [context, graph.Int64s([-1, channels])]), Name("to_out.0", "proj_attn"), channels, channels);
        // Back to [N, C, H, W]: [N·H·W, C] → [N, H·W, C] → [N, C, H·W] → the input's shape.
        GraphValue back = graph.Node("Transpose", [graph.Node("Reshape", [projected, tokens3d])], NodeAttribute.Ints("perm", 0, 2, 1));
        return graph.Node("Add", [graph.Node("Reshape", [back, shape]), x]);
    }
}
