using System.Globalization;
using System.Text.RegularExpressions;

namespace Diffusion.Core.Adapters;

/// <summary>
/// Translates the UNet module names of Stability's own (SGM / ldm) code, which kohya writes for SDXL LoRAs
/// (<c>input_blocks_4_1_transformer_blocks_0_attn1_to_q</c>), into diffusers' (<c>down_blocks_1_attentions_0_…</c>), as
/// diffusers' <c>_maybe_map_sgm_blocks_to_diffusers</c> and <c>_convert_unet_lora_key</c> do: input block i is down block
/// (i − 1) / (layers_per_block + 1), layer (i − 1) mod (layers_per_block + 1) (the last one its downsampler); the middle
/// block's 0, 1, 2 are resnet 0, attention 0, resnet 1; output block i is up block i / (layers_per_block + 1); inside a
/// block, 0 is a resnet, 1 an attention, 2 an upsampler. Resnet, embedding and in/out layers are renamed too (LoCon).
/// </summary>
internal static partial class SgmBlockNames
{
    private static readonly (string Sgm, string Diffusers)[] s_renames =
    [
        ("in_layers_2", "conv1"), ("out_layers_3", "conv2"), ("emb_layers_1", "time_emb_proj"), ("skip_connection", "conv_shortcut"),
    ];

    /// <summary>True for a name in SGM's block layout.</summary>
    public static bool IsSgm(string underscored)
        => underscored.StartsWith("input_blocks_", StringComparison.Ordinal) || underscored.StartsWith("middle_block_", StringComparison.Ordinal)
           || underscored.StartsWith("output_blocks_", StringComparison.Ordinal) || underscored.StartsWith("time_embed_", StringComparison.Ordinal)
           || underscored.StartsWith("label_emb_", StringComparison.Ordinal) || underscored.StartsWith("out_2", StringComparison.Ordinal);

    /// <summary>The diffusers underscored name of an SGM one, or null when it is not one this mapping knows.</summary>
    public static string? ToDiffusers(string underscored, int layersPerBlock)
    {
        string? mapped = MapTopLevel(underscored) ?? MapBlock(underscored, layersPerBlock);
        if (mapped is null)
            return null;
        foreach ((string sgm, string diffusers) in s_renames)
        {
            if (mapped.EndsWith("_" + sgm, StringComparison.Ordinal))
                return mapped[..^sgm.Length] + diffusers;
        }
        return mapped;
    }

    private static string? MapTopLevel(string name) => name switch
    {
        "input_blocks_0_0" => "conv_in",
        "out_2" => "conv_out",
        "time_embed_0" => "time_embedding_linear_1",
        "time_embed_2" => "time_embedding_linear_2",
        "label_emb_0_0" => "add_embedding_linear_1",
        "label_emb_0_2" => "add_embedding_linear_2",
        _ => null,
    };

    private static string? MapBlock(string name, int layersPerBlock)
    {
        Match match = BlockPattern().Match(name);
        if (!match.Success)
            return null;
        string kind = match.Groups["kind"].Value;
        int index = int.Parse(match.Groups["index"].Value, CultureInfo.InvariantCulture);
        int inner = match.Groups["inner"].Success ? int.Parse(match.Groups["inner"].Value, CultureInfo.InvariantCulture) : -1;
        string rest = match.Groups["rest"].Value;
        int span = layersPerBlock + 1;
        if (kind == "middle_block")
        {
            return index switch
            {
                0 => "mid_block_resnets_0" + rest,
                1 => "mid_block_attentions_0" + rest,
                2 => "mid_block_resnets_1" + rest,
                _ => null,
            };
        }
        if (kind == "input_blocks")
        {
            if (index < 1)
                return null;
            int block = (index - 1) / span, layer = (index - 1) % span;
            if (rest == "_op" || rest.StartsWith("_op_", StringComparison.Ordinal))
                return $"down_blocks_{block}_downsamplers_0_conv{rest[3..]}";
            return inner switch
            {
                0 => $"down_blocks_{block}_resnets_{layer}{rest}",
                1 => $"down_blocks_{block}_attentions_{layer}{rest}",
                _ => null,
            };
        }
        int upBlock = index / span, upLayer = index % span;
        return inner switch
        {
            0 => $"up_blocks_{upBlock}_resnets_{upLayer}{rest}",
            1 => $"up_blocks_{upBlock}_attentions_{upLayer}{rest}",
            2 => $"up_blocks_{upBlock}_upsamplers_0{rest}",
            _ => null,
        };
    }

    // input_blocks_4_1_rest, middle_block_1_rest, output_blocks_3_0_rest; input_blocks_3_0_op (a downsampler)
    [GeneratedRegex(@"^(?<kind>input_blocks|middle_block|output_blocks)_(?<index>\d+)(?:_(?<inner>\d+))?(?<rest>(?:_.*)?)$")]
    private static partial Regex BlockPattern();
}
