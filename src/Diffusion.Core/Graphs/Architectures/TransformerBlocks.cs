namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>Transformer2DModel</c> (continuous input) and its <c>BasicTransformerBlock</c>s as the SD UNets use
/// them: GroupNorm, a 1×1-conv or linear <c>proj_in</c>, per block self-attention, cross-attention on the text
/// embeddings and a GEGLU feed-forward (each pre-LayerNorm with a residual), <c>proj_out</c>, plus the input.
/// </summary>
/// <remarks>
/// Tokens stay 2-D [batch·tokens, width] so every linear layer is a Gemm over the checkpoint's [out, in] weight; the
/// attention works on the [batch, tokens, width] view (fused, or reshaped to heads around its two MatMuls).
/// </remarks>
internal sealed class TransformerBlocks(OnnxGraphBuilder graph, GraphValue batch, GraphValue contextRows, long contextWidth, int groups)
{
    private readonly Dictionary<long, GraphValue> _tokenShapes = [];

    /// <summary><c>Transformer2DModel</c> on <paramref name="x"/> [N, C, H, W] with <paramref name="layers"/> blocks.</summary>
    public GraphValue Transformer2D(GraphValue x, string module, long channels, int heads, int layers, bool linearProjection)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        // [N, C, H, W] → [N, H, W, C] → [N·H·W, C], as diffusers permutes and reshapes (after a conv, ONNX Runtime turns
        // this transpose into its channels-last reorder); the way back goes through [N, H, W, C] too.
        GraphValue channelsLast = graph.Node("Concat", [graph.Node("Gather", [graph.Node("Shape", [x]), graph.Int64s([0, 2, 3])], NodeAttribute.Int("axis", 0)),
            graph.Int64s([channels])], NodeAttribute.Int("axis", 0));
        GraphValue h = graph.GroupNorm(x, module + ".norm", groups, channels, 1e-6f);
        if (!linearProjection)
            h = graph.Conv2d(h, module + ".proj_in", channels, channels, 1);
        GraphValue tokens = graph.Node("Reshape", [graph.Node("Transpose", [h], NodeAttribute.Ints("perm", 0, 2, 3, 1)), graph.Int64s([-1, channels])]);
        if (linearProjection)
            tokens = graph.Linear(tokens, module + ".proj_in", channels, channels);
        for (int i = 0; i < layers; i++)
            tokens = BasicBlock(tokens, $"{module}.transformer_blocks.{i}", channels, heads);
        if (linearProjection)
            tokens = graph.Linear(tokens, module + ".proj_out", channels, channels);
        GraphValue back = graph.Node("Transpose", [graph.Node("Reshape", [tokens, channelsLast])], NodeAttribute.Ints("perm", 0, 3, 1, 2));
        if (!linearProjection)
            back = graph.Conv2d(back, module + ".proj_out", channels, channels, 1);
        return graph.Node("Add", [back, x]);
    }

    private GraphValue BasicBlock(GraphValue tokens, string module, long width, int heads)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        GraphValue normed = graph.LayerNorm(tokens, module + ".norm1", width, 1e-5f);
        tokens = graph.Node("Add", [Attention(normed, normed, width, module + ".attn1", width, heads), tokens]);
        normed = graph.LayerNorm(tokens, module + ".norm2", width, 1e-5f);
        tokens = graph.Node("Add", [Attention(normed, contextRows, contextWidth, module + ".attn2", width, heads), tokens]);
        normed = graph.LayerNorm(tokens, module + ".norm3", width, 1e-5f);
        return graph.Node("Add", [FeedForward(normed, module + ".ff", width), tokens]);
    }

    /// <summary>diffusers' <c>Attention</c>: q from the tokens, k and v from <paramref name="context"/> (biasless), softmax(q·kᵀ·1/√d)·v, <c>to_out.0</c>.</summary>
    private GraphValue Attention(GraphValue x, GraphValue context, long contextWidth, string module, long width, int heads)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        GraphValue tokens = TokensShape(width);
        GraphValue Project(GraphValue rows, string projection, long inWidth)
            => graph.Node("Reshape", [graph.Linear(rows, $"{module}.{projection}", inWidth, width, bias: false), tokens]);
        GraphValue attended = graph.MultiHeadAttention(Project(x, "to_q", width), Project(context, "to_k", contextWidth), Project(context, "to_v", contextWidth),
            heads, width, ClipTextModelGraph.AttentionScale(width / heads));
        return graph.Linear(graph.Node("Reshape", [attended, graph.Int64s([-1, width])]), module + ".to_out.0", width, width);
    }

    /// <summary><c>FeedForward</c> with GEGLU: <c>net.0.proj</c> to 2·4·width, the first half times GELU of the second, <c>net.2</c>.</summary>
    private GraphValue FeedForward(GraphValue x, string module, long width)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        long inner = 4 * width;
        GraphValue projected = graph.Linear(x, module + ".net.0.proj", width, 2 * inner);
        // chunk(2, dim=-1) as two Slices, as torch's exporter writes it.
        GraphValue axis = graph.Int64s([1]);
        GraphValue hidden = graph.Node("Slice", [projected, graph.Int64s([0]), graph.Int64s([inner]), axis]);
        GraphValue gate = graph.Node("Slice", [projected, graph.Int64s([inner]), graph.Int64s([2 * inner]), axis]);
        GraphValue gated = graph.Node("Mul", [hidden, graph.Activation(gate, "gelu")]);
        return graph.Linear(gated, module + ".net.2", inner, width);
    }

    /// <summary>[batch, −1, width], the token view attention works on (one per width).</summary>
    private GraphValue TokensShape(long width)
    {
        if (!_tokenShapes.TryGetValue(width, out GraphValue shape))
        {
            shape = graph.Node("Concat", [batch, graph.Int64s([-1, width])], NodeAttribute.Int("axis", 0));
            _tokenShapes[width] = shape;
        }
        return shape;
    }
}
