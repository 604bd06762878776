using DataType = Diffusion.Core.Graphs.Proto.TensorProto.Types.DataType;

namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// transformers' <c>T5EncoderModel</c> as an ONNX graph over checkpoint weights in transformers' layout
/// (<c>shared.weight</c> or <c>encoder.embed_tokens.weight</c>, <c>encoder.block.N.layer.0.SelfAttention.{q,k,v,o}</c>,
/// <c>encoder.block.0.layer.0.SelfAttention.relative_attention_bias</c>, <c>encoder.block.N.layer.1.DenseReluDense.…</c>,
/// <c>encoder.final_layer_norm</c>), with optimum's contract: input <c>input_ids</c> int64 [batch, sequence], output
/// <c>last_hidden_state</c> [batch, sequence, d_model].
/// </summary>
/// <remarks>
/// The computation is transformers' for the FLUX.1 / SD3 call (no attention mask: the pipelines pass none, so padding
/// is attended to): T5LayerNorm = x·rsqrt(mean(x²) + ε)·w with no mean and no bias, unscaled q·kᵀ plus the relative
/// position bias that layer 0 computes and every layer reuses, softmax, gated-gelu (tanh GELU of wi_0 times wi_1) or
/// relu feed-forward. Activations are kept 2-D [batch·sequence, width] so every projection is a Gemm over the
/// checkpoint's own [out, in] weight.
/// </remarks>
internal static class T5EncoderGraph
{
    public static BuiltModel Build(T5EncoderConfig config, IWeightSource weights, string name = "text_encoder")
    {
        var graph = new OnnxGraphBuilder("T5EncoderModel", weights);
        int width = config.DModel;
        GraphValue ids = graph.Input("input_ids", DataType.Int64, "batch_size", "sequence_length");

        GraphValue idsShape = graph.Node("Shape", [ids]);
        GraphValue sequence = graph.Node("Gather", [idsShape, graph.Int64s([1])], NodeAttribute.Int("axis", 0));
        GraphValue headsShape = graph.Node("Concat", [graph.Int64s([-1]), sequence, graph.Int64s([config.Heads, config.DKv])], NodeAttribute.Int("axis", 0));
        GraphValue outputShape = graph.Node("Concat", [graph.Int64s([-1]), sequence, graph.Int64s([width])], NodeAttribute.Int("axis", 0));

        string embedding = graph.HasWeight("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
        GraphValue hidden = graph.Node("Reshape", [graph.Node("Gather", [graph.Weight(embedding, config.VocabSize, width), ids]), graph.Int64s([-1, width])]);

        GraphValue positionBias;
        using (graph.Scope("encoder"))
        {
            positionBias = PositionBias(graph, config, sequence);
            for (int layer = 0; layer < config.Layers; layer++)
            {
                using IDisposable scope = graph.Scope($"block.{layer}");
                string prefix = $"encoder.block.{layer}.layer.";
                GraphValue normed = graph.RmsNorm(hidden, prefix + "0.layer_norm", width, config.LayerNormEpsilon);
                hidden = graph.Node("Add", [hidden, SelfAttention(graph, config, normed, prefix + "0.SelfAttention", headsShape, positionBias)]);
                normed = graph.RmsNorm(hidden, prefix + "1.layer_norm", width, config.LayerNormEpsilon);
                hidden = graph.Node("Add", [hidden, FeedForward(graph, config, normed, prefix + "1.DenseReluDense")]);
            }
            hidden = graph.RmsNorm(hidden, "encoder.final_layer_norm", width, config.LayerNormEpsilon);
        }
        graph.Output(graph.Node("Reshape", [hidden, outputShape]), "last_hidden_state", DataType.Float, "batch_size", "sequence_length", (long)width);
        return new BuiltModel($"{name} built from {weights.Description}", graph.ToBytes(), graph.ExternalDataFolder, graph.ParameterCount);
    }

    /// <summary>
    /// [1, heads, S, S]: relative_attention_bias[bucket(j − i)] for query i and key j, the buckets looked up in a table
    /// over −max_distance..max_distance after clamping (positions farther apart share the last bucket).
    /// </summary>
    private static GraphValue PositionBias(OnnxGraphBuilder graph, T5EncoderConfig config, GraphValue sequence)
    {
        using IDisposable scope = graph.Scope("block.0.layer.0.SelfAttention");
        int maxDistance = config.RelativeAttentionMaxDistance;
        GraphValue length = graph.Node("Squeeze", [sequence, graph.Int64s([0])]);
        GraphValue positions = graph.Node("Range", [graph.Int64s([0], scalar: true), length, graph.Int64s([1], scalar: true)]);
        GraphValue relative = graph.Node("Sub", [graph.Node("Unsqueeze", [positions, graph.Int64s([0])]), graph.Node("Unsqueeze", [positions, graph.Int64s([1])])]);
        GraphValue clamped = graph.Node("Clip", [relative, graph.Int64s([-maxDistance], scalar: true), graph.Int64s([maxDistance], scalar: true)]);
        GraphValue index = graph.Node("Add", [clamped, graph.Int64s([maxDistance], scalar: true)]);
        GraphValue buckets = graph.Node("Gather", [graph.Int64s(T5RelativePositionBuckets.Table(config.RelativeAttentionBuckets, maxDistance)), index]);
        GraphValue table = graph.Weight("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", config.RelativeAttentionBuckets, config.Heads);
        GraphValue bias = graph.Node("Transpose", [graph.Node("Gather", [table, buckets])], NodeAttribute.Ints("perm", 2, 0, 1));
        return graph.Node("Unsqueeze", [bias, graph.Int64s([0])]);
    }

    /// <summary>T5Attention without a mask: softmax(q·kᵀ + bias)·v, then o (no 1/√d scaling: T5 folds it into its weights).</summary>
    private static GraphValue SelfAttention(OnnxGraphBuilder graph, T5EncoderConfig config, GraphValue x, string module, GraphValue headsShape, GraphValue positionBias)
    {
        using IDisposable scope = graph.Scope("SelfAttention");
        int width = config.DModel, inner = config.InnerDim;
        GraphValue Project(string projection) => graph.Node("Reshape", [graph.Linear(x, $"{module}.{projection}", width, inner, bias: false), headsShape]);
        GraphValue Heads(string projection) => graph.Node("Transpose", [Project(projection)], NodeAttribute.Ints("perm", 0, 2, 1, 3));
        GraphValue context = graph.AttentionOnHeads(Heads("q"), Heads("k"), Heads("v"), scale: null, positionBias);
        GraphValue merged = graph.Node("Reshape", [graph.Node("Transpose", [context], NodeAttribute.Ints("perm", 0, 2, 1, 3)), graph.Int64s([-1, inner])]);
        return graph.Linear(merged, module + ".o", inner, width, bias: false);
    }

    /// <summary>T5DenseGatedActDense (wo(gelu_new(wi_0·x) ⊙ wi_1·x)) or T5DenseActDense (wo(relu(wi·x))).</summary>
    private static GraphValue FeedForward(OnnxGraphBuilder graph, T5EncoderConfig config, GraphValue x, string module)
    {
        using IDisposable scope = graph.Scope("DenseReluDense");
        int width = config.DModel, inner = config.DFf;
        GraphValue up = config.FeedForward == "gated-gelu"
            ? graph.Node("Mul", [graph.Activation(graph.Linear(x, module + ".wi_0", width, inner, bias: false), "gelu_tanh"), graph.Linear(x, module + ".wi_1", width, inner, bias: false)])
            : graph.Node("Relu", [graph.Linear(x, module + ".wi", width, inner, bias: false)]);
        return graph.Linear(up, module + ".wo", inner, width, bias: false);
    }
}
