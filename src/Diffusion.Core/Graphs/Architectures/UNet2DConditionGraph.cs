using DataType = Diffusion.Core.Graphs.Proto.TensorProto.Types.DataType;

namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c> (SD 1.x, SD 2.x, inpainting, SDXL base and refiner) as an ONNX graph over
/// weights in diffusers' layout (<c>conv_in.*</c>, <c>time_embedding.*</c>, <c>down_blocks.N.*</c>, <c>mid_block.*</c>,
/// <c>up_blocks.N.*</c>, <c>add_embedding.*</c>…), with optimum's contract: inputs <c>sample</c> [batch, C, h, w],
/// <c>timestep</c> float32 [1 or batch], <c>encoder_hidden_states</c> [batch, tokens, cross], and for SDXL
/// <c>text_embeds</c> [batch, pooled] and <c>time_ids</c> [batch, n]; output <c>out_sample</c>.
/// </summary>
internal static class UNet2DConditionGraph
{
    /// <param name="config">The architecture.</param>
    /// <param name="weights">Its parameters by diffusers name.</param>
    /// <param name="fusedAttention">Attention as one fused ONNX Runtime node (default) or as torch's exported chain (see <see cref="OnnxGraphBuilder.FusedAttention"/>).</param>
    public static BuiltModel Build(UNetConfig config, IWeightSource weights, bool fusedAttention = true)
    {
        var graph = new OnnxGraphBuilder("UNet2DConditionModel", weights) { FusedAttention = fusedAttention };
        int[] blocks = config.BlockOutChannels;
        int levels = blocks.Length;
        long embed = config.TimeEmbedDim;
        GraphValue sample = graph.Input("sample", DataType.Float, "batch_size", (long)config.InChannels, "height", "width");
        GraphValue timestep = graph.Input("timestep", DataType.Float, "steps");
        GraphValue context = graph.Input("encoder_hidden_states", DataType.Float, "batch_size", "sequence_length", (long)config.CrossAttentionDim);
        GraphValue batch = graph.Node("Gather", [graph.Node("Shape", [sample]), graph.Int64s([0])], NodeAttribute.Int("axis", 0));

        // Time embedding (+ SDXL's text_time embedding of the pooled text and the time ids).
        GraphValue steps = graph.Node("Expand", [timestep, batch]);
        GraphValue emb;
        using (graph.Scope("time_proj"))
            emb = UNetBlocks.SinusoidalFeatures(graph, steps, blocks[0], config.FlipSinToCos, config.FreqShift);
        emb = UNetBlocks.TimestepEmbedding(graph, emb, "time_embedding", blocks[0], embed);
        if (config.AddTimeIds > 0)
        {
            GraphValue textEmbeds = graph.Input("text_embeds", DataType.Float, "batch_size", (long)config.TextEmbedsWidth);
            GraphValue timeIds = graph.Input("time_ids", DataType.Float, "batch_size", (long)config.AddTimeIds);
            GraphValue timeFeatures;
            using (graph.Scope("add_time_proj"))
            {
                timeFeatures = UNetBlocks.SinusoidalFeatures(graph, graph.Node("Reshape", [timeIds, graph.Int64s([-1])]), config.AddTimeEmbedDim, config.FlipSinToCos, config.FreqShift);
                timeFeatures = graph.Node("Reshape", [timeFeatures, graph.Int64s([-1, (long)config.AddTimeIds * config.AddTimeEmbedDim])]);
            }
            GraphValue added = graph.Node("Concat", [textEmbeds, timeFeatures], NodeAttribute.Int("axis", 1));
            long addedWidth = config.TextEmbedsWidth + (long)config.AddTimeIds * config.AddTimeEmbedDim;
            emb = graph.Node("Add", [emb, UNetBlocks.TimestepEmbedding(graph, added, "add_embedding", addedWidth, embed)]);
        }
        GraphValue activated = graph.Silu(emb);

        GraphValue contextRows = graph.Node("Reshape", [context, graph.Int64s([-1, config.CrossAttentionDim])]);
        var transformers = new TransformerBlocks(graph, batch, contextRows, config.CrossAttentionDim, config.NormGroups);
        GraphValue Resnet(GraphValue x, string module, long inChannels, long outChannels) => UNetBlocks.Resnet(graph, x, activated, module, inChannels, outChannels, embed, config);

        GraphValue h = graph.Conv2d(sample, "conv_in", config.InChannels, blocks[0], 3);
        var skips = new Stack<(GraphValue Value, long Channels)>();
        skips.Push((h, blocks[0]));
        long channels = blocks[0];
        for (int level = 0; level < levels; level++)
        {
            string block = $"down_blocks.{level}";
            using IDisposable scope = graph.Scope(block);
            for (int i = 0; i < config.LayersPerBlock; i++)
            {
                h = Resnet(h, $"{block}.resnets.{i}", channels, blocks[level]);
                channels = blocks[level];
                if (config.CrossAttention[level])
                    h = transformers.Transformer2D(h, $"{block}.attentions.{i}", channels, config.Heads[level], config.TransformerLayers[level], config.LinearProjection);
                skips.Push((h, channels));
            }
            if (level < levels - 1)
            {
                using IDisposable down = graph.Scope("downsamplers.0");
                h = graph.Conv2d(h, $"{block}.downsamplers.0.conv", channels, channels, 3, stride: 2);
                skips.Push((h, channels));
            }
        }

        using (graph.Scope("mid_block"))
        {
            h = Resnet(h, "mid_block.resnets.0", channels, channels);
            h = transformers.Transformer2D(h, "mid_block.attentions.0", channels, config.Heads[^1], config.TransformerLayers[^1], config.LinearProjection);
            h = Resnet(h, "mid_block.resnets.1", channels, channels);
        }

        // Step caching may cut at the input of any up-block layer (nearest the output first; see DeepCacheGraphs).
        var cachePoints = new List<GraphValue>();
        for (int level = 0; level < levels; level++)
        {
            int mirrored = levels - 1 - level;
            string block = $"up_blocks.{level}";
            using IDisposable scope = graph.Scope(block);
            for (int i = 0; i <= config.LayersPerBlock; i++)
            {
                (GraphValue skip, long skipChannels) = skips.Pop();
                cachePoints.Insert(0, h);
                h = graph.Node("Concat", [h, skip], NodeAttribute.Int("axis", 1));
                h = Resnet(h, $"{block}.resnets.{i}", channels + skipChannels, blocks[mirrored]);
                channels = blocks[mirrored];
                if (config.CrossAttention[mirrored])
                    h = transformers.Transformer2D(h, $"{block}.attentions.{i}", channels, config.Heads[mirrored], config.TransformerLayers[mirrored], config.LinearProjection);
            }
            if (level < levels - 1)
            {
                using IDisposable up = graph.Scope("upsamplers.0");
                h = graph.Conv2d(graph.UpsampleNearest2x(h), $"{block}.upsamplers.0.conv", channels, channels, 3);
            }
        }

        h = graph.Silu(graph.GroupNorm(h, "conv_norm_out", config.NormGroups, channels, config.NormEpsilon));
        h = graph.Conv2d(h, "conv_out", channels, config.OutChannels, 3);
        DeepCacheGraphs.Record(graph, cachePoints);
        graph.Output(h, "out_sample", DataType.Float, "batch_size", (long)config.OutChannels, "height", "width");
        return new BuiltModel($"unet built from {weights.Description}", graph.ToBytes(), graph.ExternalDataFolder, graph.ParameterCount);
    }
}
