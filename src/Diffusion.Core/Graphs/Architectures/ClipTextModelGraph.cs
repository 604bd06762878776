using Diffusion.Core.Graphs.Proto;
using DataType = Diffusion.Core.Graphs.Proto.TensorProto.Types.DataType;

namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// transformers' <c>CLIPTextModel</c> / <c>CLIPTextModelWithProjection</c> as an ONNX graph over checkpoint weights in
/// transformers' layout (<c>text_model.embeddings.token_embedding.weight</c>, <c>text_model.encoder.layers.N.…</c>,
/// <c>text_model.final_layer_norm.…</c>, <c>text_projection.weight</c>), with optimum's contract: input <c>input_ids</c>
/// int32 [batch, sequence]; outputs <c>last_hidden_state</c>, <c>pooler_output</c> (or, with the projection,
/// <c>text_embeds</c> first) and <c>hidden_states.0</c> … <c>hidden_states.N</c> (the embeddings, then each layer's output).
/// </summary>
/// <remarks>
/// The computation is transformers' (pre-LayerNorm blocks, causal mask filled with float32's lowest value, queries scaled
/// by 1/√head before the product, pooled state at each row's highest token id, as transformers picks the end token for
/// the CLIP configs SD ships). Activations between layers are kept 2-D [batch·sequence, width] so every linear layer is a
/// Gemm over the checkpoint's own weight layout.
/// </remarks>
internal static class ClipTextModelGraph
{
    public static BuiltModel Build(ClipTextConfig config, IWeightSource weights, string name = "text_encoder")
    {
        var graph = new OnnxGraphBuilder(config.ProjectionDim is null ? "CLIPTextModel" : "CLIPTextModelWithProjection", weights);
        int width = config.HiddenSize;
        GraphValue ids = graph.Input("input_ids", DataType.Int32, "batch_size", "sequence_length");

        GraphValue hidden, last;
        GraphValue sequence, rows, attentionShape, outputShape;
        GraphValue mask;
        GraphValue[] states = new GraphValue[config.Layers + 1];
        using (graph.Scope("text_model"))
        {
            // Shapes: S = sequence length, the [-1, S, heads, head] view of the 2-D state and its [-1, S, width] output view.
            GraphValue idsShape = graph.Node("Shape", [ids]);
            sequence = graph.Node("Gather", [idsShape, graph.Int64s([1])], NodeAttribute.Int("axis", 0));
            rows = graph.Node("ReduceProd", [idsShape], NodeAttribute.Int("keepdims", 1));
            attentionShape = graph.Node("Concat", [graph.Int64s([-1]), sequence, graph.Int64s([config.Heads, config.HeadSize])], NodeAttribute.Int("axis", 0));
            outputShape = graph.Node("Concat", [graph.Int64s([-1]), sequence, graph.Int64s([width])], NodeAttribute.Int("axis", 0));

            using (graph.Scope("embeddings"))
            {
                GraphValue tokens = graph.Node("Gather", [graph.Weight("text_model.embeddings.token_embedding.weight", config.VocabSize, width), ids]);
                GraphValue positions = graph.Node("Slice", [graph.Weight("text_model.embeddings.position_embedding.weight", config.MaxPositions, width),
                    graph.Int64s([0]), sequence, graph.Int64s([0])]);
                hidden = graph.Node("Reshape", [graph.Node("Add", [tokens, positions]), graph.Node("Concat", [rows, graph.Int64s([width])], NodeAttribute.Int("axis", 0))]);
            }
            states[0] = hidden;

            // Causal mask [S, S]: 0 on and below the diagonal, float32's lowest value above it (transformers' fill).
            GraphValue square = graph.Node("Concat", [sequence, sequence], NodeAttribute.Int("axis", 0));
            GraphValue filled = graph.Node("ConstantOfShape", [square], NodeAttribute.FloatTensor("value", float.MinValue));
            mask = graph.Node("Trilu", [filled, graph.Int64s([1], scalar: true)], NodeAttribute.Int("upper", 1));

            using (graph.Scope("encoder"))
            {
                for (int layer = 0; layer < config.Layers; layer++)
                {
                    using IDisposable scope = graph.Scope($"layers.{layer}");
                    string prefix = $"text_model.encoder.layers.{layer}.";
                    GraphValue attention = SelfAttention(graph, config, graph.LayerNorm(hidden, prefix + "layer_norm1", width, config.LayerNormEpsilon),
                        prefix + "self_attn", attentionShape, mask);
                    hidden = graph.Node("Add", [hidden, attention]);
                    GraphValue normed = graph.LayerNorm(hidden, prefix + "layer_norm2", width, config.LayerNormEpsilon);
                    GraphValue up = graph.Activation(graph.Linear(normed, prefix + "mlp.fc1", width, config.IntermediateSize), config.Activation);
                    hidden = graph.Node("Add", [hidden, graph.Linear(up, prefix + "mlp.fc2", config.IntermediateSize, width)]);
                    states[layer + 1] = hidden;
                }
            }
            // The final norm writes last_hidden_state itself, as in an export: clip skip reads its weights from that node.
            last = graph.LayerNorm(graph.Node("Reshape", [hidden, outputShape]), "text_model.final_layer_norm", width, config.LayerNormEpsilon, "last_hidden_state");
            hidden = graph.Node("Reshape", [last, graph.Int64s([-1, width])]);
        }

        // The pooled state: each row's state at its highest token id, picked from the flat [batch·S, width] states.
        GraphValue batchSize = graph.Node("Gather", [graph.Node("Shape", [ids]), graph.Int64s([0], scalar: true)], NodeAttribute.Int("axis", 0));
        GraphValue rowStart = graph.Node("Mul", [graph.Node("Range", [graph.Int64s([0], scalar: true), batchSize, graph.Int64s([1], scalar: true)]), sequence]);
        GraphValue eos = graph.Node("ArgMax", [ids], NodeAttribute.Int("axis", 1), NodeAttribute.Int("keepdims", 0));
        GraphValue pooled = graph.Node("Gather", [hidden, graph.Node("Add", [rowStart, eos])], NodeAttribute.Int("axis", 0));

        if (config.ProjectionDim is int projection)
        {
            graph.Output(graph.Linear(pooled, "text_projection", width, projection, bias: false), "text_embeds", DataType.Float, "batch_size", (long)projection);
            graph.Output(last, "last_hidden_state", DataType.Float, "batch_size", "sequence_length", (long)width);
        }
        else
        {
            graph.Output(last, "last_hidden_state", DataType.Float, "batch_size", "sequence_length", (long)width);
            graph.Output(pooled, "pooler_output", DataType.Float, "batch_size", (long)width);
        }
        for (int i = 0; i < states.Length; i++)
            graph.Output(graph.Node("Reshape", [states[i], outputShape]), $"hidden_states.{i}", DataType.Float, "batch_size", "sequence_length", (long)width);
        return new BuiltModel($"{name} built from {weights.Description}", graph.ToBytes(), graph.ExternalDataFolder, graph.ParameterCount);
    }

    /// <summary>
    /// head^-0.5 as transformers and diffusers compute it (<c>head_dim ** -0.5</c> in Python's double, rounded to float32
    /// when it multiplies a tensor); float32 1/√head can differ in the last bit.
    /// </summary>
    internal static float AttentionScale(long head) => (float)Math.Pow(head, -0.5);

    /// <summary>transformers' <c>CLIPAttention</c> on the 2-D state: q·k^T/√d with the causal mask, softmax, ·v, out_proj.</summary>
    private static GraphValue SelfAttention(OnnxGraphBuilder graph, ClipTextConfig config, GraphValue x, string module, GraphValue attentionShape, GraphValue mask)
    {
        int width = config.HiddenSize;
        using IDisposable scope = graph.Scope("self_attn");
        GraphValue Heads(GraphValue projected) // [-1·S, width] → [batch, heads, S, head]
            => graph.Node("Transpose", [graph.Node("Reshape", [projected, attentionShape])], NodeAttribute.Ints("perm", 0, 2, 1, 3));
        GraphValue query = Heads(graph.Node("Mul", [graph.Linear(x, module + ".q_proj", width, width), graph.Scalar(AttentionScale(config.HeadSize))]));
        GraphValue keyT = graph.Node("Transpose", [graph.Node("Reshape", [graph.Linear(x, module + ".k_proj", width, width), attentionShape])], NodeAttribute.Ints("perm", 0, 2, 3, 1));
        GraphValue value = Heads(graph.Linear(x, module + ".v_proj", width, width));
        GraphValue scores = graph.Node("Add", [graph.Node("MatMul", [query, keyT]), mask]);
        GraphValue context = graph.Node("MatMul", [graph.Node("Softmax", [scores], NodeAttribute.Int("axis", -1)), value]);
        GraphValue merged = graph.Node("Reshape", [graph.Node("Transpose", [context], NodeAttribute.Ints("perm", 0, 2, 1, 3)), graph.Int64s([-1, width])]);
        return graph.Linear(merged, module + ".out_proj", width, width);
    }
}
