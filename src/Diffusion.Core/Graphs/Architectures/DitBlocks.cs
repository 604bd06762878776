namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// Pieces the diffusion transformers (SD3's MMDiT, FLUX.1) share, on token activations [batch, tokens, width]: linear
/// layers over the 2-D view (Gemm on the checkpoint's own weight), the adaptive LayerNorm modulation
/// (<c>AdaLayerNormZero</c> and relatives: SiLU(temb) → linear → chunks), LayerNorm without affine, multi-head attention
/// over concatenated token streams, and the tanh-GELU feed-forward.
/// </summary>
internal sealed class DitBlocks
{
    private readonly OnnxGraphBuilder _graph;
    private readonly GraphValue _batch; // [1] int64
    private readonly Dictionary<long, GraphValue> _ones = [];

    public DitBlocks(OnnxGraphBuilder graph, GraphValue batch)
    {
        _graph = graph;
        _batch = batch;
    }

    /// <summary><c>nn.Linear</c> on [batch, tokens, in] through the 2-D view; the result is [batch, tokens, out].</summary>
    public GraphValue Linear(GraphValue x, string module, long inFeatures, long outFeatures, bool bias = true)
    {
        GraphValue flat = _graph.Node("Reshape", [x, _graph.Int64s([-1, inFeatures])]);
        return ToTokens(_graph.Linear(flat, module, inFeatures, outFeatures, bias), outFeatures);
    }

    /// <summary>[batch·tokens, width] → [batch, tokens, width].</summary>
    public GraphValue ToTokens(GraphValue flat, long width)
        => _graph.Node("Reshape", [flat, _graph.Node("Concat", [_batch, _graph.Int64s([-1, width])], NodeAttribute.Int("axis", 0))]);

    /// <summary>
    /// The modulation parameters of an adaptive norm: <c>{module}.linear</c>(<paramref name="activatedEmbedding"/>) split in
    /// <paramref name="chunks"/> [batch, 1, width] tensors (torch's <c>chunk(k, dim=1)</c> then <c>[:, None]</c>).
    /// </summary>
    public GraphValue[] Modulation(GraphValue activatedEmbedding, string module, long width, int chunks, long embeddingWidth)
    {
        using IDisposable scope = _graph.Scope(GraphLayers.LocalName(module));
        GraphValue emb = _graph.Linear(activatedEmbedding, module + ".linear", embeddingWidth, chunks * width);
        long[] sizes = Enumerable.Repeat(width, chunks).ToArray();
        GraphValue[] parts = _graph.Node("Split", [emb, _graph.Int64s(sizes)], chunks, NodeAttribute.Int("axis", 1));
        for (int i = 0; i < chunks; i++)
            parts[i] = _graph.Node("Unsqueeze", [parts[i], _graph.Int64s([1])]);
        return parts;
    }

    /// <summary><c>nn.LayerNorm(width, elementwise_affine=False, eps)</c> over the last axis.</summary>
    public GraphValue PlainLayerNorm(GraphValue x, long width, float epsilon = 1e-6f)
    {
        // One scale of ones per width for the whole graph (ONNX's LayerNormalization requires a scale input).
        if (!_ones.TryGetValue(width, out GraphValue ones))
            _ones[width] = ones = _graph.Constant(Enumerable.Repeat(1f, (int)width).ToArray(), width);
        return _graph.Node("LayerNormalization", [x, ones], NodeAttribute.Int("axis", -1), NodeAttribute.Float("epsilon", epsilon));
    }

    /// <summary>x·(1 + scale) + shift, as the adaptive norms compute it.</summary>
    public GraphValue Modulate(GraphValue x, GraphValue shift, GraphValue scale)
        => _graph.Node("Add", [_graph.Node("Mul", [x, _graph.Node("Add", [scale, _graph.Scalar(1f)])]), shift]);

    /// <summary>[batch, tokens, heads·head] → [batch, heads, tokens, head].</summary>
    public GraphValue SplitHeads(GraphValue x, int heads, int headDim)
    {
        GraphValue shape = _graph.Node("Concat", [_batch, _graph.Int64s([-1, heads, headDim])], NodeAttribute.Int("axis", 0));
        return _graph.Node("Transpose", [_graph.Node("Reshape", [x, shape])], NodeAttribute.Ints("perm", 0, 2, 1, 3));
    }

    /// <summary>[batch, heads, tokens, head] → [batch, tokens, heads·head].</summary>
    public GraphValue MergeHeads(GraphValue x, long width)
        => _graph.Node("Reshape", [_graph.Node("Transpose", [x], NodeAttribute.Ints("perm", 0, 2, 1, 3)),
            _graph.Node("Concat", [_batch, _graph.Int64s([-1, width])], NodeAttribute.Int("axis", 0))]);

    /// <summary>softmax(q·kᵀ/√head)·v over [batch, heads, tokens, head] (torch's scaled_dot_product_attention without a mask).</summary>
    public GraphValue Attention(GraphValue query, GraphValue key, GraphValue value, int headDim)
        => _graph.AttentionOnHeads(query, key, value, (float)(1.0 / Math.Sqrt(headDim)));

    /// <summary>diffusers' <c>FeedForward(activation_fn="gelu-approximate")</c>: <c>net.0.proj</c>, tanh GELU, <c>net.2</c>; 4× width inside.</summary>
    public GraphValue FeedForward(GraphValue x, string module, long width, long? innerWidth = null)
    {
        using IDisposable scope = _graph.Scope(GraphLayers.LocalName(module));
        long inner = innerWidth ?? 4 * width;
        GraphValue hidden = _graph.Activation(Linear(x, module + ".net.0.proj", width, inner), "gelu_tanh");
        return Linear(hidden, module + ".net.2", inner, width);
    }

    /// <summary>Tokens [from, to) of a [batch, tokens, width] tensor (<paramref name="to"/> null: to the end).</summary>
    public GraphValue Tokens(GraphValue x, GraphValue from, GraphValue? to)
        => _graph.Node("Slice", [x, from, to ?? _graph.Int64s([long.MaxValue]), _graph.Int64s([1])]);
}
