namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>AutoencoderKL</c> shape: image and latent channels, the channels of each resolution level, ResNet
/// blocks per level, GroupNorm groups, and whether the mid blocks have attention and the 1×1 (post-)quant convs exist.
/// </summary>
internal sealed record AutoencoderKlConfig(int InChannels, int OutChannels, int LatentChannels, int[] BlockOutChannels, int LayersPerBlock,
    int NormGroups, bool MidBlockAttention = true, bool QuantConv = true, bool PostQuantConv = true)
{
    /// <summary>GroupNorm epsilon of every VAE norm (diffusers fixes it).</summary>
    public const float Epsilon = 1e-6f;

    /// <summary>The SD 1.x / 2.x / SDXL VAE: 83,653,863 parameters.</summary>
    public static AutoencoderKlConfig StableDiffusion { get; } = new(3, 3, 4, [128, 256, 512, 512], 2, 32);

    /// <summary>The 16-channel VAE of SD3/3.5 and FLUX.1 (no quant convs): 83,819,683 parameters.</summary>
    public static AutoencoderKlConfig SixteenChannel { get; } = new(3, 3, 16, [128, 256, 512, 512], 2, 32, QuantConv: false, PostQuantConv: false);

    /// <summary>Reads a diffusers <c>vae/config.json</c> (<c>_class_name</c> AutoencoderKL).</summary>
    /// <exception cref="ModelLoadException">A field is missing, out of range, or names a block or activation this builder does not know.</exception>
    public static AutoencoderKlConfig FromJson(string path)
    {
        using ConfigFields fields = ConfigFields.Read(path);
        string className = fields.String("_class_name", "AutoencoderKL");
        if (className != "AutoencoderKL")
            throw new ModelLoadException(path, $"_class_name is {className}; this builder knows AutoencoderKL.");
        if (fields.String("act_fn", "silu") != "silu")
            throw new ModelLoadException(path, $"act_fn {fields.String("act_fn", "silu")} is not supported (silu).");
        int[] blocks = fields.Ints("block_out_channels", 8, 1, 4096, [64]);
        int groups = fields.Int("norm_num_groups", 1, 1024, 32);
        foreach (int channels in blocks)
        {
            if (channels % groups != 0)
                throw new ModelLoadException(path, $"block_out_channels {channels} is not a multiple of norm_num_groups {groups}.");
        }
        RequireBlocks(fields, "down_block_types", "DownEncoderBlock2D", blocks.Length);
        RequireBlocks(fields, "up_block_types", "UpDecoderBlock2D", blocks.Length);
        return new AutoencoderKlConfig(fields.Int("in_channels", 1, 64, 3), fields.Int("out_channels", 1, 64, 3), fields.Int("latent_channels", 1, 256, 4),
            blocks, fields.Int("layers_per_block", 1, 8, 1), groups, fields.Bool("mid_block_add_attention", true),
            fields.Bool("use_quant_conv", true), fields.Bool("use_post_quant_conv", true));
    }

    /// <summary>This config as diffusers writes <c>vae/config.json</c>, with the scaling the pipeline applies.</summary>
    public string ToDiffusersJson(float scalingFactor, bool forceUpcast)
    {
        var config = new System.Text.Json.Nodes.JsonObject
        {
            ["_class_name"] = "AutoencoderKL",
            ["in_channels"] = InChannels,
            ["out_channels"] = OutChannels,
            ["latent_channels"] = LatentChannels,
            ["down_block_types"] = new System.Text.Json.Nodes.JsonArray([.. BlockOutChannels.Select(_ => (System.Text.Json.Nodes.JsonNode?)"DownEncoderBlock2D")]),
            ["up_block_types"] = new System.Text.Json.Nodes.JsonArray([.. BlockOutChannels.Select(_ => (System.Text.Json.Nodes.JsonNode?)"UpDecoderBlock2D")]),
            ["block_out_channels"] = new System.Text.Json.Nodes.JsonArray([.. BlockOutChannels.Select(c => (System.Text.Json.Nodes.JsonNode?)c)]),
            ["layers_per_block"] = LayersPerBlock,
            ["norm_num_groups"] = NormGroups,
            ["act_fn"] = "silu",
            ["mid_block_add_attention"] = MidBlockAttention,
            ["use_quant_conv"] = QuantConv,
            ["use_post_quant_conv"] = PostQuantConv,
            ["scaling_factor"] = scalingFactor,
            ["force_upcast"] = forceUpcast,
        };
        return config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    private static void RequireBlocks(ConfigFields fields, string name, string expected, int count)
    {
        string[] types = fields.Strings(name, 8, Enumerable.Repeat(expected, count).ToArray());
        if (types.Length != count || types.Any(t => t != expected))
            throw new ModelLoadException(fields.Path, $"{name} must be {count} × {expected} (one per block_out_channels entry), was [{string.Join(", ", types)}].");
    }
}
