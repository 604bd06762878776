using DataType = Diffusion.Core.Graphs.Proto.TensorProto.Types.DataType;

namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>SD3Transformer2DModel</c> (SD3, SD3.5 medium and large) as an ONNX graph over diffusers' checkpoint
/// names, with optimum's contract: inputs <c>hidden_states</c> [batch, C, H, W], <c>encoder_hidden_states</c>
/// [batch, T, joint], <c>pooled_projections</c> [batch, pooled], <c>timestep</c> [batch]; output
/// <c>out_hidden_states</c> [batch, C, H, W].
/// </summary>
/// <remarks>
/// The computation is diffusers': patch embedding (conv, stride = patch) plus the stored sin-cos table cropped to the
/// centre (<c>cropped_pos_embed</c>); temb = TimestepEmbedding(256 sinusoidal features) + the pooled text projection;
/// joint blocks with AdaLayerNormZero modulation, image and caption tokens attending together (image first), optional
/// QK RMS norm and SD3.5's second, image-only attention; the last block updates only the image tokens; then
/// AdaLayerNormContinuous, the projection and the un-patching einsum <c>nhwpqc→nchpwq</c>.
/// </remarks>
internal static class Sd3TransformerGraph
{
    /// <summary>The optional input [layers] whose 1 entries skip those joint blocks (diffusers' <c>skip_layers</c>; default all 0).</summary>
    public const string SkipLayersInput = "skip_layers";

    /// <param name="config">The architecture.</param>
    /// <param name="weights">Its parameters by diffusers name.</param>
    /// <param name="name">The component's name in the built model's description.</param>
    /// <param name="continuousNormsShiftFirst">The AdaLayerNormContinuous rows (the final norm, the last block's context norm) are (shift, scale), as Stability AI's checkpoints store them, instead of diffusers' (scale, shift).</param>
    public static BuiltModel Build(Sd3TransformerConfig config, IWeightSource weights, string name = "transformer", bool continuousNormsShiftFirst = false)
    {
        var graph = new OnnxGraphBuilder("SD3Transformer2DModel", weights);
        if (continuousNormsShiftFirst)
            ShiftFirstModulations.Record(graph, "norm_out.linear", $"transformer_blocks.{config.Layers - 1}.norm1_context.linear");
        int width = config.InnerDim, patch = config.PatchSize;
        GraphValue latents = graph.Input("hidden_states", DataType.Float, "batch_size", (long)config.InChannels, "height", "width");
        GraphValue caption = graph.Input("encoder_hidden_states", DataType.Float, "batch_size", "sequence_length", (long)config.JointAttentionDim);
        GraphValue pooled = graph.Input("pooled_projections", DataType.Float, "batch_size", (long)config.PooledProjectionDim);
        GraphValue timestep = graph.Input("timestep", DataType.Float, "batch_size");

        GraphValue latentShape = graph.Node("Shape", [latents]);
        GraphValue batch = graph.Node("Gather", [latentShape, graph.Int64s([0])], NodeAttribute.Int("axis", 0));
        GraphValue patchesHigh = graph.Node("Div", [graph.Node("Gather", [latentShape, graph.Int64s([2])], NodeAttribute.Int("axis", 0)), graph.Int64s([patch])]);
        GraphValue patchesWide = graph.Node("Div", [graph.Node("Gather", [latentShape, graph.Int64s([3])], NodeAttribute.Int("axis", 0)), graph.Int64s([patch])]);
        var dit = new DitBlocks(graph, batch);

        GraphValue hidden = PatchEmbed(graph, config, latents, batch, patchesHigh, patchesWide);
        GraphValue temb = TimeTextEmbedding(graph, config, timestep, pooled);
        GraphValue activatedTemb = graph.Silu(temb);
        GraphValue context = dit.Linear(caption, "context_embedder", config.JointAttentionDim, config.CaptionProjectionDim);

        // diffusers' skip_layers (skip-layer guidance): a block whose entry is 1 passes both streams through unchanged.
        GraphValue skipLayers = graph.InputWithDefault(SkipLayersInput, new float[config.Layers]);
        for (int layer = 0; layer < config.Layers; layer++)
        {
            using IDisposable scope = graph.Scope($"transformer_blocks.{layer}");
            bool last = layer == config.Layers - 1;
            (GraphValue blockHidden, GraphValue blockContext) = JointBlock(graph, dit, config, $"transformer_blocks.{layer}", hidden, context, activatedTemb,
                contextPreOnly: last, dualAttention: config.DualAttentionLayers.Contains(layer), continuousNormsShiftFirst);
            GraphValue skipped = graph.Node("Greater", [graph.Node("Gather", [skipLayers, graph.Int64s([layer], scalar: true)], NodeAttribute.Int("axis", 0)), graph.Scalar(0.5f)]);
            hidden = graph.Node("Where", [skipped, hidden, blockHidden]);
            context = last ? context : graph.Node("Where", [skipped, context, blockContext]); // the last block leaves the caption as it is
        }

        GraphValue[] outModulation = dit.Modulation(activatedTemb, "norm_out", width, 2, width);
        hidden = ContinuousNorm(dit, hidden, outModulation, width, continuousNormsShiftFirst);
        hidden = dit.Linear(hidden, "proj_out", width, (long)patch * patch * config.OutChannels);

        // [B, h·w, p·p·C] → [B, h, w, p, p, C] → [B, C, h, p, w, p] → [B, C, h·p, w·p].
        GraphValue six = graph.Node("Concat", [batch, patchesHigh, patchesWide, graph.Int64s([patch, patch, config.OutChannels])], NodeAttribute.Int("axis", 0));
        GraphValue image = graph.Node("Transpose", [graph.Node("Reshape", [hidden, six])], NodeAttribute.Ints("perm", 0, 5, 1, 3, 2, 4));
        GraphValue outShape = graph.Node("Concat", [batch, graph.Int64s([config.OutChannels]), graph.Node("Mul", [patchesHigh, graph.Int64s([patch])]),
            graph.Node("Mul", [patchesWide, graph.Int64s([patch])])], NodeAttribute.Int("axis", 0));
        graph.Output(graph.Node("Reshape", [image, outShape]), "out_hidden_states", DataType.Float, "batch_size", (long)config.OutChannels, "height", "width");
        return new BuiltModel($"{name} built from {weights.Description}", graph.ToBytes(), graph.ExternalDataFolder, graph.ParameterCount);
    }

    /// <summary><c>PatchEmbed</c>: the patching conv, flattened to tokens, plus the stored sin-cos table's centre crop.</summary>
    private static GraphValue PatchEmbed(OnnxGraphBuilder graph, Sd3TransformerConfig config, GraphValue latents, GraphValue batch, GraphValue high, GraphValue wide)
    {
        using IDisposable scope = graph.Scope("pos_embed");
        int width = config.InnerDim, patch = config.PatchSize, max = config.PosEmbedMaxSize;
        GraphValue patches = graph.Conv2d(latents, "pos_embed.proj", config.InChannels, width, patch, stride: patch, pads: [0, 0, 0, 0]);
        GraphValue tokens = graph.Node("Transpose", [graph.Node("Reshape", [patches, graph.Node("Concat", [batch, graph.Int64s([width, -1])], NodeAttribute.Int("axis", 0))])],
            NodeAttribute.Ints("perm", 0, 2, 1));
        // cropped_pos_embed: rows top..top+h, columns left..left+w of the max × max table, top = (max − h) // 2.
        GraphValue table = graph.Node("Reshape", [graph.Buffer("pos_embed.pos_embed", 1, (long)max * max, width), graph.Int64s([max, max, width])]);
        GraphValue top = graph.Node("Div", [graph.Node("Sub", [graph.Int64s([max]), high]), graph.Int64s([2])]);
        GraphValue left = graph.Node("Div", [graph.Node("Sub", [graph.Int64s([max]), wide]), graph.Int64s([2])]);
        GraphValue starts = graph.Node("Concat", [top, left], NodeAttribute.Int("axis", 0));
        GraphValue ends = graph.Node("Concat", [graph.Node("Add", [top, high]), graph.Node("Add", [left, wide])], NodeAttribute.Int("axis", 0));
        GraphValue crop = graph.Node("Slice", [table, starts, ends, graph.Int64s([0, 1])]);
        return graph.Node("Add", [tokens, graph.Node("Reshape", [crop, graph.Int64s([1, -1, width])])]);
    }

    /// <summary><c>CombinedTimestepTextProjEmbeddings</c>: TimestepEmbedding(sinusoidal 256, cos first) + text_embedder(pooled).</summary>
    private static GraphValue TimeTextEmbedding(OnnxGraphBuilder graph, Sd3TransformerConfig config, GraphValue timestep, GraphValue pooled)
    {
        using IDisposable scope = graph.Scope("time_text_embed");
        int width = config.InnerDim;
        GraphValue features = UNetBlocks.SinusoidalFeatures(graph, timestep, 256, flipSinToCos: true, freqShift: 0);
        GraphValue time = UNetBlocks.TimestepEmbedding(graph, features, "time_text_embed.timestep_embedder", 256, width);
        GraphValue text;
        using (graph.Scope("text_embedder"))
            text = graph.Linear(graph.Silu(graph.Linear(pooled, "time_text_embed.text_embedder.linear_1", config.PooledProjectionDim, width)),
                "time_text_embed.text_embedder.linear_2", width, width);
        return graph.Node("Add", [time, text]);
    }

    /// <summary><c>JointTransformerBlock</c>; returns the new image tokens and (unless <paramref name="contextPreOnly"/>) caption tokens.</summary>
    private static (GraphValue Hidden, GraphValue Context) JointBlock(OnnxGraphBuilder graph, DitBlocks dit, Sd3TransformerConfig config, string module,
        GraphValue hidden, GraphValue context, GraphValue activatedTemb, bool contextPreOnly, bool dualAttention, bool continuousNormsShiftFirst)
    {
        int width = config.InnerDim;
        // norm1: AdaLayerNormZero (shift, scale, gate msa; shift, scale, gate mlp) or SD3.5's X variant (+ shift, scale, gate msa2).
        GraphValue[] m = dit.Modulation(activatedTemb, module + ".norm1", width, dualAttention ? 9 : 6, width);
        GraphValue normed = dit.PlainLayerNorm(hidden, width);
        GraphValue normHidden = dit.Modulate(normed, m[0], m[1]);
        GraphValue[] c = dit.Modulation(activatedTemb, module + ".norm1_context", width, contextPreOnly ? 2 : 6, width);
        GraphValue normContext = contextPreOnly
            ? ContinuousNorm(dit, context, c, width, continuousNormsShiftFirst)
            : dit.Modulate(dit.PlainLayerNorm(context, width), c[0], c[1]);

        (GraphValue attnHidden, GraphValue? attnContext) = JointAttention(graph, dit, config, module + ".attn", normHidden, normContext, contextPreOnly);
        hidden = graph.Node("Add", [hidden, graph.Node("Mul", [m[2], attnHidden])]);
        if (dualAttention)
        {
            GraphValue normHidden2 = dit.Modulate(normed, m[6], m[7]);
            GraphValue attn2 = SelfAttention(graph, dit, config, module + ".attn2", normHidden2);
            hidden = graph.Node("Add", [hidden, graph.Node("Mul", [m[8], attn2])]);
        }
        GraphValue ffInput = dit.Modulate(dit.PlainLayerNorm(hidden, width), m[3], m[4]);
        hidden = graph.Node("Add", [hidden, graph.Node("Mul", [m[5], dit.FeedForward(ffInput, module + ".ff", width)])]);

        if (contextPreOnly)
            return (hidden, context);
        context = graph.Node("Add", [context, graph.Node("Mul", [c[2], attnContext!.Value])]);
        GraphValue contextFfInput = dit.Modulate(dit.PlainLayerNorm(context, width), c[3], c[4]);
        context = graph.Node("Add", [context, graph.Node("Mul", [c[5], dit.FeedForward(contextFfInput, module + ".ff_context", width)])]);
        return (hidden, context);
    }

    /// <summary>AdaLayerNormContinuous: diffusers' linear gives (scale, shift); Stability AI's checkpoints store (shift, scale).</summary>
    private static GraphValue ContinuousNorm(DitBlocks dit, GraphValue x, GraphValue[] modulation, int width, bool shiftFirst)
        => shiftFirst
            ? dit.Modulate(dit.PlainLayerNorm(x, width), modulation[0], modulation[1])
            : dit.Modulate(dit.PlainLayerNorm(x, width), modulation[1], modulation[0]);

    /// <summary>JointAttnProcessor2_0: image and caption q/k/v (QK-normed when configured) attend together, image tokens first.</summary>
    private static (GraphValue Hidden, GraphValue? Context) JointAttention(OnnxGraphBuilder graph, DitBlocks dit, Sd3TransformerConfig config, string module,
        GraphValue hidden, GraphValue context, bool contextPreOnly)
    {
        using IDisposable scope = graph.Scope("attn");
        int width = config.InnerDim;
        GraphValue Heads(GraphValue x, string projection, string? norm)
        {
            GraphValue heads = dit.SplitHeads(dit.Linear(x, $"{module}.{projection}", width, width), config.Heads, config.HeadDim);
            return config.QkRmsNorm && norm is not null ? graph.RmsNorm(heads, $"{module}.{norm}", config.HeadDim, 1e-6f) : heads;
        }
        GraphValue query = graph.Node("Concat", [Heads(hidden, "to_q", "norm_q"), Heads(context, "add_q_proj", "norm_added_q")], NodeAttribute.Int("axis", 2));
        GraphValue key = graph.Node("Concat", [Heads(hidden, "to_k", "norm_k"), Heads(context, "add_k_proj", "norm_added_k")], NodeAttribute.Int("axis", 2));
        GraphValue value = graph.Node("Concat", [Heads(hidden, "to_v", null), Heads(context, "add_v_proj", null)], NodeAttribute.Int("axis", 2));
        GraphValue joint = dit.MergeHeads(dit.Attention(query, key, value, config.HeadDim), width);

        GraphValue imageTokens = graph.Node("Gather", [graph.Node("Shape", [hidden]), graph.Int64s([1])], NodeAttribute.Int("axis", 0));
        GraphValue imageOut = dit.Linear(dit.Tokens(joint, graph.Int64s([0]), imageTokens), $"{module}.to_out.0", width, width);
        if (contextPreOnly)
            return (imageOut, null);
        GraphValue contextOut = dit.Linear(dit.Tokens(joint, imageTokens, null), $"{module}.to_add_out", width, width);
        return (imageOut, contextOut);
    }

    /// <summary>SD3.5's image-only <c>attn2</c> (AttnProcessor2_0 with QK norm).</summary>
    private static GraphValue SelfAttention(OnnxGraphBuilder graph, DitBlocks dit, Sd3TransformerConfig config, string module, GraphValue hidden)
    {
        using IDisposable scope = graph.Scope("attn2");
        int width = config.InnerDim;
        GraphValue Heads(string projection, string? norm)
        {
            GraphValue heads = dit.SplitHeads(dit.Linear(hidden, $"{module}.{projection}", width, width), config.Heads, config.HeadDim);
            return config.QkRmsNorm && norm is not null ? graph.RmsNorm(heads, $"{module}.{norm}", config.HeadDim, 1e-6f) : heads;
        }
        GraphValue context = dit.Attention(Heads("to_q", "norm_q"), Heads("to_k", "norm_k"), Heads("to_v", null), config.HeadDim);
        return dit.Linear(dit.MergeHeads(context, width), $"{module}.to_out.0", width, width);
    }
}
