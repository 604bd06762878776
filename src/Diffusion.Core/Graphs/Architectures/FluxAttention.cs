namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>FluxAttention</c> with <c>FluxAttnProcessor</c>: q/k/v per head with RMS-normed q and k (eps 1e-6), RoPE
/// on q and k, scaled dot-product attention; in the double-stream blocks the text tokens' projections (<c>add_*_proj</c>)
/// come first in the joint sequence and get their own output projection (<c>to_add_out</c>).
/// </summary>
internal sealed class FluxAttention(OnnxGraphBuilder graph, DitBlocks dit, FluxTransformerConfig config, GraphValue cos, GraphValue sin)
{
    private const float Epsilon = 1e-6f;

    /// <summary>The double-stream attention: (image output through <c>to_out.0</c>, text output through <c>to_add_out</c>).</summary>
    public (GraphValue Hidden, GraphValue Context) Joint(string module, GraphValue hidden, GraphValue context)
    {
        using IDisposable scope = graph.Scope("attn");
        int width = config.InnerDim;
        GraphValue query = graph.Node("Concat", [Heads(context, module, "add_q_proj", "norm_added_q"), Heads(hidden, module, "to_q", "norm_q")], NodeAttribute.Int("axis", 2));
        GraphValue key = graph.Node("Concat", [Heads(context, module, "add_k_proj", "norm_added_k"), Heads(hidden, module, "to_k", "norm_k")], NodeAttribute.Int("axis", 2));
        GraphValue value = graph.Node("Concat", [Heads(context, module, "add_v_proj", null), Heads(hidden, module, "to_v", null)], NodeAttribute.Int("axis", 2));
        GraphValue joint = dit.MergeHeads(dit.Attention(Rotate(query), Rotate(key), value, config.HeadDim), width);
        GraphValue textTokens = graph.Node("Gather", [graph.Node("Shape", [context]), graph.Int64s([1])], NodeAttribute.Int("axis", 0));
        GraphValue contextOut = dit.Linear(dit.Tokens(joint, graph.Int64s([0]), textTokens), module + ".to_add_out", width, width);
        GraphValue hiddenOut = dit.Linear(dit.Tokens(joint, textTokens, null), module + ".to_out.0", width, width);
        return (hiddenOut, contextOut);
    }

    /// <summary>The single-stream attention (no output projection: the block's <c>proj_out</c> follows).</summary>
    public GraphValue Single(string module, GraphValue tokens)
    {
        using IDisposable scope = graph.Scope("attn");
        GraphValue query = Rotate(Heads(tokens, module, "to_q", "norm_q"));
        GraphValue key = Rotate(Heads(tokens, module, "to_k", "norm_k"));
        return dit.MergeHeads(dit.Attention(query, key, Heads(tokens, module, "to_v", null), config.HeadDim), config.InnerDim);
    }

    private GraphValue Heads(GraphValue x, string module, string projection, string? norm)
    {
        GraphValue heads = dit.SplitHeads(dit.Linear(x, $"{module}.{projection}", config.InnerDim, config.InnerDim), config.Heads, config.HeadDim);
        return norm is null ? heads : graph.RmsNorm(heads, $"{module}.{norm}", config.HeadDim, Epsilon);
    }

    /// <summary>apply_rotary_emb (real form): x·cos + rotate(x)·sin with rotate(x) pairing (x₂ᵢ, x₂ᵢ₊₁) → (−x₂ᵢ₊₁, x₂ᵢ).</summary>
    private GraphValue Rotate(GraphValue x)
    {
        GraphValue pairs = graph.Node("Reshape", [x, graph.Int64s([0, 0, 0, -1, 2])]);
        GraphValue[] parts = graph.Node("Split", [pairs, graph.Int64s([1, 1])], 2, NodeAttribute.Int("axis", 4));
        GraphValue rotated = graph.Node("Reshape", [graph.Node("Concat", [graph.Node("Neg", [parts[1]]), parts[0]], NodeAttribute.Int("axis", 4)),
            graph.Int64s([0, 0, 0, -1])]);
        return graph.Node("Add", [graph.Node("Mul", [x, cos]), graph.Node("Mul", [rotated, sin])]);
    }
}
