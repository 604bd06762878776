using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// diffusers UNet parameter names → the original LDM / SGM names single-file checkpoints use
/// (<c>model.diffusion_model.input_blocks.N.M.*</c>, <c>middle_block.*</c>, <c>output_blocks.*</c>…), for any number of
/// levels and ResNets per level: the mapping diffusers' <c>convert_diffusers_to_original_stable_diffusion.py</c> and
/// <c>…_sdxl.py</c> hard-code for SD 1.x and SDXL, written once from the block structure.
/// </summary>
/// <remarks>
/// LDM numbers the encoder's blocks in one list: <c>input_blocks.0</c> is <c>conv_in</c>, then each level's ResNets
/// (sub-module 0) with their attention (sub-module 1), then the level's downsampler (<c>.0.op</c>). The decoder's
/// <c>output_blocks</c> hold each up level's ResNets + attention, the last of them also the upsampler (sub-module 1, or 2
/// after an attention).
/// </remarks>
internal sealed class LdmUNetNames
{
    private static readonly (string Diffusers, string Ldm)[] s_resnetParts =
        [("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("norm2.", "out_layers.0."), ("conv2.", "out_layers.3."),
         ("time_emb_proj.", "emb_layers.1."), ("conv_shortcut.", "skip_connection.")];

    private static readonly (string Diffusers, string Ldm)[] s_fixed =
        [("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."), ("conv_in.", "input_blocks.0.0."),
         ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."), ("add_embedding.linear_1.", "label_emb.0.0."), ("add_embedding.linear_2.", "label_emb.0.2.")];

    private readonly List<(string Diffusers, string Ldm, bool Resnet)> _blocks = [];

    public LdmUNetNames(UNetConfig config)
    {
        int levels = config.BlockOutChannels.Length;
        int layers = config.LayersPerBlock;
        for (int i = 0; i < levels; i++)
        {
            for (int j = 0; j < layers; j++)
            {
                int block = i * (layers + 1) + j + 1;
                _blocks.Add(($"down_blocks.{i}.resnets.{j}.", $"input_blocks.{block}.0.", true));
                _blocks.Add(($"down_blocks.{i}.attentions.{j}.", $"input_blocks.{block}.1.", false));
            }
            if (i < levels - 1)
                _blocks.Add(($"down_blocks.{i}.downsamplers.0.conv.", $"input_blocks.{(i + 1) * (layers + 1)}.0.op.", false));

            bool attention = config.CrossAttention[levels - 1 - i];
            for (int j = 0; j <= layers; j++)
            {
                int block = i * (layers + 1) + j;
                _blocks.Add(($"up_blocks.{i}.resnets.{j}.", $"output_blocks.{block}.0.", true));
                _blocks.Add(($"up_blocks.{i}.attentions.{j}.", $"output_blocks.{block}.1.", false));
            }
            if (i < levels - 1)
                _blocks.Add(($"up_blocks.{i}.upsamplers.0.", $"output_blocks.{i * (layers + 1) + layers}.{(attention ? 2 : 1)}.", false));
        }
        _blocks.Add(("mid_block.resnets.0.", "middle_block.0.", true));
        _blocks.Add(("mid_block.attentions.0.", "middle_block.1.", false));
        _blocks.Add(("mid_block.resnets.1.", "middle_block.2.", true));
    }

    /// <summary>The LDM name (without the <c>model.diffusion_model.</c> prefix) of a diffusers UNet parameter, or null.</summary>
    public string? ToLdm(string name)
    {
        foreach ((string diffusers, string ldm) in s_fixed)
        {
            if (name.StartsWith(diffusers, StringComparison.Ordinal))
                return ldm + name[diffusers.Length..];
        }
        foreach ((string diffusers, string ldm, bool resnet) in _blocks)
        {
            if (!name.StartsWith(diffusers, StringComparison.Ordinal))
                continue;
            string rest = name[diffusers.Length..];
            if (resnet)
            {
                foreach ((string part, string ldmPart) in s_resnetParts)
                {
                    if (rest.StartsWith(part, StringComparison.Ordinal))
                        return ldm + ldmPart + rest[part.Length..];
                }
            }
            return ldm + rest;
        }
        return null;
    }
}
