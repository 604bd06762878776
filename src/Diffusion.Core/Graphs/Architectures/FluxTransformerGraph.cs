using DataType = Diffusion.Core.Graphs.Proto.TensorProto.Types.DataType;

namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>FluxTransformer2DModel</c> (FLUX.1 dev and schnell) as an ONNX graph over diffusers' checkpoint names,
/// with optimum's contract: inputs <c>hidden_states</c> [batch, N, in] (the 2×2-packed latent), <c>encoder_hidden_states</c>
/// [batch, T, joint], <c>pooled_projections</c> [batch, pooled], <c>timestep</c> [batch] (the pipeline's t/1000),
/// <c>img_ids</c> [N, 3], <c>txt_ids</c> [T, 3], and <c>guidance</c> [batch] when the model has the guidance embedder;
/// output <c>out_hidden_states</c> [batch, N, out].
/// </summary>
/// <remarks>
/// The computation is diffusers': timestep (and guidance) × 1000 into sinusoidal features and TimestepEmbedding, plus the
/// pooled text projection; RoPE over the concatenated text and image ids (angles and their cos/sin in float64, as
/// diffusers computes them, then float32), applied to q and k after their RMS norms; double-stream blocks (text first in
/// the joint attention) then single-stream blocks over the concatenated tokens (attention and MLP side by side, one
/// output projection); AdaLayerNormContinuous and the projection on the image tokens.
/// </remarks>
internal static class FluxTransformerGraph
{
    private const double RopeTheta = 10000;

    /// <param name="config">The architecture.</param>
    /// <param name="weights">Its parameters by diffusers name.</param>
    /// <param name="name">The component's name in the built model's description.</param>
    /// <param name="normOutShiftFirst">The final modulation's rows are (shift, scale), as Black Forest Labs' checkpoints store them, instead of diffusers' (scale, shift).</param>
    public static BuiltModel Build(FluxTransformerConfig config, IWeightSource weights, string name = "transformer", bool normOutShiftFirst = false)
    {
        var graph = new OnnxGraphBuilder("FluxTransformer2DModel", weights);
        if (normOutShiftFirst)
            ShiftFirstModulations.Record(graph, "norm_out.linear");
        int width = config.InnerDim;
        GraphValue latents = graph.Input("hidden_states", DataType.Float, "batch_size", "image_tokens", (long)config.InChannels);
        GraphValue caption = graph.Input("encoder_hidden_states", DataType.Float, "batch_size", "text_tokens", (long)config.JointAttentionDim);
        GraphValue pooled = graph.Input("pooled_projections", DataType.Float, "batch_size", (long)config.PooledProjectionDim);
        GraphValue timestep = graph.Input("timestep", DataType.Float, "batch_size");
        GraphValue imageIds = graph.Input("img_ids", DataType.Float, "image_tokens", 3L);
        GraphValue textIds = graph.Input("txt_ids", DataType.Float, "text_tokens", 3L);
        GraphValue? guidance = config.GuidanceEmbeds ? graph.Input("guidance", DataType.Float, "batch_size") : null;

        GraphValue batch = graph.Node("Gather", [graph.Node("Shape", [latents]), graph.Int64s([0])], NodeAttribute.Int("axis", 0));
        var dit = new DitBlocks(graph, batch);
        GraphValue hidden = dit.Linear(latents, "x_embedder", config.InChannels, width);
        GraphValue temb = TimeTextEmbedding(graph, config, timestep, guidance, pooled);
        GraphValue activatedTemb = graph.Silu(temb);
        GraphValue context = dit.Linear(caption, "context_embedder", config.JointAttentionDim, width);
        (GraphValue cos, GraphValue sin) = Rope(graph, config, graph.Node("Concat", [textIds, imageIds], NodeAttribute.Int("axis", 0)));
        var attention = new FluxAttention(graph, dit, config, cos, sin);

        for (int layer = 0; layer < config.Layers; layer++)
        {
            using IDisposable scope = graph.Scope($"transformer_blocks.{layer}");
            (hidden, context) = DoubleBlock(graph, dit, attention, config, $"transformer_blocks.{layer}", hidden, context, activatedTemb);
        }

        GraphValue textTokens = graph.Node("Gather", [graph.Node("Shape", [context]), graph.Int64s([1])], NodeAttribute.Int("axis", 0));
        GraphValue joint = graph.Node("Concat", [context, hidden], NodeAttribute.Int("axis", 1));
        for (int layer = 0; layer < config.SingleLayers; layer++)
        {
            using IDisposable scope = graph.Scope($"single_transformer_blocks.{layer}");
            joint = SingleBlock(graph, dit, attention, config, $"single_transformer_blocks.{layer}", joint, activatedTemb);
        }
        hidden = dit.Tokens(joint, textTokens, null);

        GraphValue[] outModulation = dit.Modulation(activatedTemb, "norm_out", width, 2, width);
        (GraphValue shift, GraphValue scale) = normOutShiftFirst ? (outModulation[0], outModulation[1]) : (outModulation[1], outModulation[0]);
        hidden = dit.Modulate(dit.PlainLayerNorm(hidden, width), shift, scale);
        long outWidth = (long)config.PatchSize * config.PatchSize * config.OutChannels;
        graph.Output(dit.Linear(hidden, "proj_out", width, outWidth), "out_hidden_states", DataType.Float, "batch_size", "image_tokens", outWidth);
        return new BuiltModel($"{name} built from {weights.Description}", graph.ToBytes(), graph.ExternalDataFolder, graph.ParameterCount);
    }

    /// <summary>CombinedTimestep(Guidance)TextProjEmbeddings on timestep·1000 (and guidance·1000), plus the pooled text projection.</summary>
    private static GraphValue TimeTextEmbedding(OnnxGraphBuilder graph, FluxTransformerConfig config, GraphValue timestep, GraphValue? guidance, GraphValue pooled)
    {
        using IDisposable scope = graph.Scope("time_text_embed");
        int width = config.InnerDim;
        GraphValue Embed(GraphValue value, string module)
        {
            GraphValue features = UNetBlocks.SinusoidalFeatures(graph, graph.Node("Mul", [value, graph.Scalar(1000f)]), 256, flipSinToCos: true, freqShift: 0);
            return UNetBlocks.TimestepEmbedding(graph, features, module, 256, width);
        }
        GraphValue time = Embed(timestep, "time_text_embed.timestep_embedder");
        if (guidance is GraphValue g)
            time = graph.Node("Add", [time, Embed(g, "time_text_embed.guidance_embedder")]);
        GraphValue text;
        using (graph.Scope("text_embedder"))
            text = graph.Linear(graph.Silu(graph.Linear(pooled, "time_text_embed.text_embedder.linear_1", config.PooledProjectionDim, width)),
                "time_text_embed.text_embedder.linear_2", width, width);
        return graph.Node("Add", [time, text]);
    }

    /// <summary>
    /// FluxPosEmbed: per axis a, angles ids[:, a]·θ^(−2j/dₐ) in float64, cos and sin each repeated twice along the last
    /// axis, axes concatenated, cast to float32; returned as [1, 1, S, head] for q/k in [batch, heads, S, head].
    /// </summary>
    private static (GraphValue Cos, GraphValue Sin) Rope(OnnxGraphBuilder graph, FluxTransformerConfig config, GraphValue ids)
    {
        using IDisposable scope = graph.Scope("pos_embed");
        int half = config.HeadDim / 2;
        var axisOfColumn = new long[half];
        var frequencies = new double[half];
        int column = 0;
        for (int axis = 0; axis < config.AxesDimsRope.Length; axis++)
        {
            int dim = config.AxesDimsRope[axis];
            for (int j = 0; j < dim / 2; j++, column++)
            {
                axisOfColumn[column] = axis;
                frequencies[column] = 1.0 / Math.Pow(RopeTheta, 2.0 * j / dim);
            }
        }
        GraphValue positions = graph.Node("Gather", [graph.Node("Cast", [ids], NodeAttribute.Int("to", (long)DataType.Double)), graph.Int64s(axisOfColumn)],
            NodeAttribute.Int("axis", 1));
        GraphValue angles = graph.Node("Mul", [positions, graph.Doubles(frequencies)]);
        GraphValue Interleaved(string op)
        {
            GraphValue values = graph.Node("Unsqueeze", [graph.Node(op, [angles]), graph.Int64s([2])]);
            GraphValue twice = graph.Node("Reshape", [graph.Node("Concat", [values, values], NodeAttribute.Int("axis", 2)), graph.Int64s([1, 1, -1, config.HeadDim])]);
            return graph.Node("Cast", [twice], NodeAttribute.Int("to", (long)DataType.Float));
        }
        return (Interleaved("Cos"), Interleaved("Sin"));
    }

    private static (GraphValue Hidden, GraphValue Context) DoubleBlock(OnnxGraphBuilder graph, DitBlocks dit, FluxAttention attention, FluxTransformerConfig config,
        string module, GraphValue hidden, GraphValue context, GraphValue activatedTemb)
    {
        int width = config.InnerDim;
        GraphValue[] m = dit.Modulation(activatedTemb, module + ".norm1", width, 6, width);
        GraphValue[] c = dit.Modulation(activatedTemb, module + ".norm1_context", width, 6, width);
        GraphValue normHidden = dit.Modulate(dit.PlainLayerNorm(hidden, width), m[0], m[1]);
        GraphValue normContext = dit.Modulate(dit.PlainLayerNorm(context, width), c[0], c[1]);
        (GraphValue attnHidden, GraphValue attnContext) = attention.Joint(module + ".attn", normHidden, normContext);

        hidden = graph.Node("Add", [hidden, graph.Node("Mul", [m[2], attnHidden])]);
        GraphValue ffInput = dit.Modulate(dit.PlainLayerNorm(hidden, width), m[3], m[4]);
        hidden = graph.Node("Add", [hidden, graph.Node("Mul", [m[5], dit.FeedForward(ffInput, module + ".ff", width)])]);

        context = graph.Node("Add", [context, graph.Node("Mul", [c[2], attnContext])]);
        GraphValue contextFfInput = dit.Modulate(dit.PlainLayerNorm(context, width), c[3], c[4]);
        context = graph.Node("Add", [context, graph.Node("Mul", [c[5], dit.FeedForward(contextFfInput, module + ".ff_context", width)])]);
        return (hidden, context);
    }

    /// <summary>FluxSingleTransformerBlock over the joint tokens: x + gate·proj_out([attention(norm x), GELU(proj_mlp(norm x))]).</summary>
    private static GraphValue SingleBlock(OnnxGraphBuilder graph, DitBlocks dit, FluxAttention attention, FluxTransformerConfig config,
        string module, GraphValue joint, GraphValue activatedTemb)
    {
        int width = config.InnerDim;
        long mlp = 4L * width;
        GraphValue[] m = dit.Modulation(activatedTemb, module + ".norm", width, 3, width); // shift, scale, gate
        GraphValue normed = dit.Modulate(dit.PlainLayerNorm(joint, width), m[0], m[1]);
        GraphValue mlpOut = graph.Activation(dit.Linear(normed, module + ".proj_mlp", width, mlp), "gelu_tanh");
        GraphValue attnOut = attention.Single(module + ".attn", normed);
        GraphValue projected = dit.Linear(graph.Node("Concat", [attnOut, mlpOut], NodeAttribute.Int("axis", 2)), module + ".proj_out", width + mlp, width);
        return graph.Node("Add", [joint, graph.Node("Mul", [m[2], projected])]);
    }
}
