using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// diffusers <c>AutoencoderKL</c> parameter names → the original LDM names (<c>encoder.down.N.block.M</c>,
/// <c>decoder.up.N.*</c> numbered from the lowest resolution, <c>mid.block_1</c>, <c>mid.attn_1.q</c>…), as diffusers'
/// conversion scripts map them, for any number of levels and ResNets. The LDM attention's q/k/v/proj_out are 1×1 convs
/// holding the same bytes as diffusers' linear layers.
/// </summary>
internal sealed class LdmVaeNames
{
    private static readonly (string Diffusers, string Ldm)[] s_attention =
        [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")];

    private readonly List<(string Diffusers, string Ldm)> _blocks = [];

    public LdmVaeNames(AutoencoderKlConfig config)
    {
        int levels = config.BlockOutChannels.Length;
        for (int i = 0; i < levels; i++)
        {
            for (int j = 0; j < config.LayersPerBlock; j++)
                _blocks.Add(($"encoder.down_blocks.{i}.resnets.{j}.", $"encoder.down.{i}.block.{j}."));
            for (int j = 0; j <= config.LayersPerBlock; j++)
                _blocks.Add(($"decoder.up_blocks.{i}.resnets.{j}.", $"decoder.up.{levels - 1 - i}.block.{j}."));
            if (i < levels - 1)
            {
                _blocks.Add(($"encoder.down_blocks.{i}.downsamplers.0.", $"encoder.down.{i}.downsample."));
                _blocks.Add(($"decoder.up_blocks.{i}.upsamplers.0.", $"decoder.up.{levels - 1 - i}.upsample."));
            }
        }
        foreach (string half in (string[])["encoder", "decoder"])
        {
            _blocks.Add(($"{half}.mid_block.resnets.0.", $"{half}.mid.block_1."));
            _blocks.Add(($"{half}.mid_block.resnets.1.", $"{half}.mid.block_2."));
            _blocks.Add(($"{half}.conv_norm_out.", $"{half}.norm_out."));
        }
    }

    /// <summary>The LDM name (without the <c>first_stage_model.</c> prefix) of a diffusers VAE parameter.</summary>
    public string ToLdm(string name)
    {
        foreach (string half in (string[])["encoder.", "decoder."])
        {
            string attention = half + "mid_block.attentions.0.";
            if (!name.StartsWith(attention, StringComparison.Ordinal))
                continue;
            string rest = name[attention.Length..];
            foreach ((string part, string ldm) in s_attention)
            {
                if (rest.StartsWith(part, StringComparison.Ordinal))
                    return half + "mid.attn_1." + ldm + rest[part.Length..];
            }
            return half + "mid.attn_1." + rest;
        }
        foreach ((string diffusers, string ldm) in _blocks)
        {
            if (name.StartsWith(diffusers, StringComparison.Ordinal))
                return (ldm + name[diffusers.Length..]).Replace(".conv_shortcut.", ".nin_shortcut.", StringComparison.Ordinal);
        }
        return name; // conv_in, conv_out, quant_conv, post_quant_conv keep their names
    }
}
