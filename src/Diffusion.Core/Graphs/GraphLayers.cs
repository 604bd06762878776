namespace Diffusion.Core.Graphs;

/// <summary>
/// torch.nn layers as ONNX nodes over checkpoint weights, each under its module's scope. Linear layers are <c>Gemm</c>
/// with <c>transB = 1</c> over 2-D activations, so the [out, in] weight is read as the checkpoint stores it (a
/// <c>MatMul</c> would need it transposed, a second copy of every weight in memory).
/// </summary>
internal static class GraphLayers
{
    /// <summary><c>nn.Linear(inFeatures, outFeatures)</c> on <c>x</c> [rows, inFeatures]: weights <c>{module}.weight</c>, <c>{module}.bias</c>.</summary>
    public static GraphValue Linear(this OnnxGraphBuilder graph, GraphValue x, string module, long inFeatures, long outFeatures, bool bias = true)
    {
        using IDisposable scope = graph.Scope(LocalName(module));
        GraphValue weight = graph.LinearWeight(module + ".weight", outFeatures, inFeatures, out bool storedInOut);
        GraphValue[] inputs = bias ? [x, weight, graph.Weight(module + ".bias", outFeatures)] : [x, weight];
        return graph.Node("Gemm", inputs, NodeAttribute.Int("transB", storedInOut ? 0 : 1));
    }

    /// <summary><c>nn.LayerNorm(features, eps)</c> over the last axis: weights <c>{module}.weight</c>, <c>{module}.bias</c>.</summary>
    /// <remarks><paramref name="outputName"/> names the output (a graph output the norm produces directly).</remarks>
    public static GraphValue LayerNorm(this OnnxGraphBuilder graph, GraphValue x, string module, long features, float epsilon, string? outputName = null)
    {
        using IDisposable scope = graph.Scope(LocalName(module));
        GraphValue[] inputs = [x, graph.Weight(module + ".weight", features), graph.Weight(module + ".bias", features)];
        NodeAttribute[] attributes = [NodeAttribute.Int("axis", -1), NodeAttribute.Float("epsilon", epsilon)];
        return outputName is null
            ? graph.Node("LayerNormalization", inputs, attributes)
            : graph.NamedNode("LayerNormalization", inputs, outputName, attributes);
    }

    /// <summary>
    /// T5's <c>T5LayerNorm</c> (an RMS norm) over the last axis: x·rsqrt(mean(x²) + ε)·w, no mean subtraction, no bias;
    /// weight <c>{module}.weight</c>.
    /// </summary>
    public static GraphValue RmsNorm(this OnnxGraphBuilder graph, GraphValue x, string module, long features, float epsilon)
    {
        using IDisposable scope = graph.Scope(LocalName(module));
        GraphValue variance = graph.Node("ReduceMean", [graph.Node("Mul", [x, x]), graph.Int64s([-1])], NodeAttribute.Int("keepdims", 1));
        GraphValue inverse = graph.Node("Reciprocal", [graph.Node("Sqrt", [graph.Node("Add", [variance, graph.Scalar(epsilon)])])]);
        return graph.Node("Mul", [graph.Weight(module + ".weight", features), graph.Node("Mul", [x, inverse])]);
    }

    /// <summary>
    /// softmax(q·kᵀ·<paramref name="scale"/> [+ <paramref name="attentionBias"/>])·v over <paramref name="heads"/> heads, on
    /// [batch, tokens, width] q and [batch, kvTokens, width] k/v; the result is [batch, tokens, width] with the heads
    /// merged. One <c>com.microsoft.MultiHeadAttention</c> node when the builder fuses attention (see
    /// <see cref="OnnxGraphBuilder.FusedAttention"/>), else the chain torch exports.
    /// </summary>
    /// <remarks><paramref name="attentionBias"/> is an additive [1 or batch, heads, tokens, kvTokens] bias (T5's position bias, CLIP's causal mask), or null.</remarks>
    public static GraphValue MultiHeadAttention(this OnnxGraphBuilder graph, GraphValue query, GraphValue key, GraphValue value, int heads, long width,
        float scale, GraphValue? attentionBias = null)
    {
        if (graph.FusedAttention)
        {
            GraphValue none = new(string.Empty);
            GraphValue[] inputs = attentionBias is GraphValue bias ? [query, key, value, none, none, bias] : [query, key, value];
            return graph.ContribNode("MultiHeadAttention", inputs, NodeAttribute.Int("num_heads", heads), NodeAttribute.Float("scale", scale));
        }
        long head = width / heads;
        GraphValue headShape = graph.Int64s([0, -1, heads, head]);
        GraphValue Split(GraphValue x) => graph.Node("Transpose", [graph.Node("Reshape", [x, headShape])], NodeAttribute.Ints("perm", 0, 2, 1, 3));
        GraphValue context = graph.AttentionOnHeads(Split(query), Split(key), Split(value), scale, attentionBias);
        return graph.Node("Reshape", [graph.Node("Transpose", [context], NodeAttribute.Ints("perm", 0, 2, 1, 3)), graph.Int64s([0, -1, width])]);
    }

    /// <summary>
    /// The attention core as torch exports it, on [batch, heads, tokens, head] q, k, v: softmax(q·kᵀ [·scale] [+ bias])·v,
    /// the scale multiplying the product as diffusers' processors (baddbmm's alpha, scaled_dot_product_attention) apply it;
    /// a null <paramref name="scale"/> is T5's unscaled product.
    /// </summary>
    public static GraphValue AttentionOnHeads(this OnnxGraphBuilder graph, GraphValue query, GraphValue key, GraphValue value, float? scale,
        GraphValue? attentionBias = null)
    {
        GraphValue scores = graph.Node("MatMul", [query, graph.Node("Transpose", [key], NodeAttribute.Ints("perm", 0, 1, 3, 2))]);
        if (scale is float factor)
            scores = graph.Node("Mul", [scores, graph.Scalar(factor)]);
        if (attentionBias is GraphValue additive)
            scores = graph.Node("Add", [scores, additive]);
        return graph.Node("MatMul", [graph.Node("Softmax", [scores], NodeAttribute.Int("axis", -1)), value]);
    }

    /// <summary>The module's own name, its scope under its parent's (<c>q_proj</c> of <c>text_model.encoder.layers.0.self_attn.q_proj</c>), as torch's exporter scopes nodes.</summary>
    /// <remarks>A list item keeps its list's name (<c>to_out.0</c>, <c>attentions.0</c>), as torch's scopes do.</remarks>
    internal static string LocalName(string module)
    {
        int last = module.LastIndexOf('.');
        if (last > 0 && module.AsSpan(last + 1).IndexOfAnyExceptInRange('0', '9') < 0)
            last = module.LastIndexOf('.', last - 1);
        return module[(last + 1)..];
    }

    /// <summary>The activation named as transformers' configs name it: <c>quick_gelu</c> (x·σ(1.702x), OpenAI CLIP), <c>gelu</c> (exact, erf) or <c>gelu_tanh</c> (the tanh approximation).</summary>
    public static GraphValue Activation(this OnnxGraphBuilder graph, GraphValue x, string name)
    {
        switch (name)
        {
            case "quick_gelu":
                return graph.Node("Mul", [x, graph.Node("Sigmoid", [graph.Node("Mul", [x, graph.Scalar(1.702f)])])]);
            case "gelu":
                // 0.5·x·(1 + erf(x / √2)), torch's default GELU.
                GraphValue erf = graph.Node("Erf", [graph.Node("Div", [x, graph.Scalar(MathF.Sqrt(2f))])]);
                return graph.Node("Mul", [graph.Node("Mul", [x, graph.Node("Add", [erf, graph.Scalar(1f)])]), graph.Scalar(0.5f)]);
            case "gelu_tanh":
                // torch's GELU(approximate="tanh") and transformers' gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
                // x³ as x·x·x as torch computes it.
                GraphValue cube = graph.Node("Mul", [graph.Node("Mul", [x, x]), x]);
                GraphValue inner = graph.Node("Mul", [graph.Node("Add", [x, graph.Node("Mul", [cube, graph.Scalar(0.044715f)])]), graph.Scalar((float)Math.Sqrt(2.0 / Math.PI))]);
                GraphValue gate = graph.Node("Add", [graph.Node("Tanh", [inner]), graph.Scalar(1f)]);
                return graph.Node("Mul", [graph.Node("Mul", [x, graph.Scalar(0.5f)]), gate]);
            default:
                throw new ArgumentException($"Unknown activation '{name}' (quick_gelu, gelu or gelu_tanh).", nameof(name));
        }
    }
}
