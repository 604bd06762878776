using DataType = Diffusion.Core.Graphs.Proto.TensorProto.Types.DataType;

namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>AutoencoderKL</c> halves as ONNX graphs over weights in diffusers' layout (<c>encoder.*</c>,
/// <c>quant_conv.*</c>, <c>decoder.*</c>, <c>post_quant_conv.*</c>), with optimum's contracts: the encoder takes
/// <c>sample</c> [batch, 3, H, W] in [-1, 1] and gives <c>latent_parameters</c> [batch, 2·latent, H/f, W/f] (mean, then
/// log-variance, after <c>quant_conv</c>); the decoder takes <c>latent_sample</c> (unscaled latents) and gives
/// <c>sample</c>. Scaling by <c>scaling_factor</c> stays with the pipeline, as with exported VAEs.
/// </summary>
internal static class AutoencoderKlGraph
{
    public static BuiltModel BuildEncoder(AutoencoderKlConfig config, IWeightSource weights)
    {
        var graph = new OnnxGraphBuilder("AutoencoderKL encoder", weights);
        int[] blocks = config.BlockOutChannels;
        int groups = config.NormGroups;
        GraphValue x = graph.Input("sample", DataType.Float, "batch_size", (long)config.InChannels, "height", "width");
        using (graph.Scope("encoder"))
        {
            x = graph.Conv2d(x, "encoder.conv_in", config.InChannels, blocks[0], 3);
            long channels = blocks[0];
            for (int level = 0; level < blocks.Length; level++)
            {
                string block = $"encoder.down_blocks.{level}";
                using IDisposable scope = graph.Scope($"down_blocks.{level}");
                for (int i = 0; i < config.LayersPerBlock; i++)
                {
                    x = VaeBlocks.Resnet(graph, x, $"{block}.resnets.{i}", channels, blocks[level], groups);
                    channels = blocks[level];
                }
                if (level < blocks.Length - 1)
                {
                    // Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)) then a stride-2 3×3 conv.
                    using IDisposable down = graph.Scope("downsamplers.0");
                    x = graph.Conv2d(x, $"{block}.downsamplers.0.conv", channels, channels, 3, stride: 2, pads: [0, 0, 1, 1]);
                }
            }
            x = VaeBlocks.MidBlock(graph, x, "encoder.mid_block", channels, groups, config.MidBlockAttention);
            x = graph.Silu(graph.GroupNorm(x, "encoder.conv_norm_out", groups, channels, AutoencoderKlConfig.Epsilon));
            x = graph.Conv2d(x, "encoder.conv_out", channels, 2L * config.LatentChannels, 3);
        }
        if (config.QuantConv)
            x = graph.Conv2d(x, "quant_conv", 2L * config.LatentChannels, 2L * config.LatentChannels, 1);
        graph.Output(x, "latent_parameters", DataType.Float, "batch_size", 2L * config.LatentChannels, "latent_height", "latent_width");
        return new BuiltModel($"vae_encoder built from {weights.Description}", graph.ToBytes(), graph.ExternalDataFolder, graph.ParameterCount);
    }

    public static BuiltModel BuildDecoder(AutoencoderKlConfig config, IWeightSource weights)
    {
        var graph = new OnnxGraphBuilder("AutoencoderKL decoder", weights);
        int[] blocks = config.BlockOutChannels;
        int groups = config.NormGroups;
        GraphValue x = graph.Input("latent_sample", DataType.Float, "batch_size", (long)config.LatentChannels, "latent_height", "latent_width");
        if (config.PostQuantConv)
            x = graph.Conv2d(x, "post_quant_conv", config.LatentChannels, config.LatentChannels, 1);
        using (graph.Scope("decoder"))
        {
            long channels = blocks[^1];
            x = graph.Conv2d(x, "decoder.conv_in", config.LatentChannels, channels, 3);
            x = VaeBlocks.MidBlock(graph, x, "decoder.mid_block", channels, groups, config.MidBlockAttention);
            for (int level = 0; level < blocks.Length; level++)
            {
                long outChannels = blocks[blocks.Length - 1 - level];
                string block = $"decoder.up_blocks.{level}";
                using IDisposable scope = graph.Scope($"up_blocks.{level}");
                for (int i = 0; i <= config.LayersPerBlock; i++)
                {
                    x = VaeBlocks.Resnet(graph, x, $"{block}.resnets.{i}", channels, outChannels, groups);
                    channels = outChannels;
                }
                if (level < blocks.Length - 1)
                {
                    using IDisposable up = graph.Scope("upsamplers.0");
                    x = graph.Conv2d(graph.UpsampleNearest2x(x), $"{block}.upsamplers.0.conv", channels, channels, 3);
                }
            }
            x = graph.Silu(graph.GroupNorm(x, "decoder.conv_norm_out", groups, channels, AutoencoderKlConfig.Epsilon));
            x = graph.Conv2d(x, "decoder.conv_out", channels, config.OutChannels, 3);
        }
        graph.Output(x, "sample", DataType.Float, "batch_size", (long)config.OutChannels, "height", "width");
        return new BuiltModel($"vae_decoder built from {weights.Description}", graph.ToBytes(), graph.ExternalDataFolder, graph.ParameterCount);
    }
}
