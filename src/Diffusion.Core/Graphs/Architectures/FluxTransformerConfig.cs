namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>FluxTransformer2DModel</c> shape: packed input channels, double-stream and single-stream block counts,
/// heads, the text widths, the guidance embedder (FLUX.1-dev) and the RoPE axes (which split the head width).
/// </summary>
internal sealed record FluxTransformerConfig(int PatchSize, int InChannels, int OutChannels, int Layers, int SingleLayers, int HeadDim, int Heads,
    int JointAttentionDim, int PooledProjectionDim, bool GuidanceEmbeds, int[] AxesDimsRope)
{
    /// <summary>The width of every block (heads × head width).</summary>
    public int InnerDim => Heads * HeadDim;

    /// <summary>FLUX.1-dev: 19 double- and 38 single-stream blocks of 24 × 128 heads, guidance embedder.</summary>
    public static FluxTransformerConfig Dev { get; } = new(1, 64, 64, 19, 38, 128, 24, 4096, 768, true, [16, 56, 56]);

    /// <summary>FLUX.1-schnell: FLUX.1-dev without the guidance embedder.</summary>
    public static FluxTransformerConfig Schnell { get; } = Dev with { GuidanceEmbeds = false };

    /// <summary>Reads a diffusers <c>transformer/config.json</c> (<c>_class_name</c> FluxTransformer2DModel).</summary>
    /// <exception cref="ModelLoadException">A field is missing, out of range or inconsistent.</exception>
    public static FluxTransformerConfig FromJson(string path)
    {
        using ConfigFields fields = ConfigFields.Read(path);
        int inChannels = fields.Int("in_channels", 1, 4096, 64);
        var config = new FluxTransformerConfig(fields.Int("patch_size", 1, 16, 1), inChannels,
            fields.Has("out_channels") ? fields.Int("out_channels", 1, 4096) : inChannels, fields.Int("num_layers", 0, 256, 19),
            fields.Int("num_single_layers", 0, 256, 38), fields.Int("attention_head_dim", 2, 1024, 128), fields.Int("num_attention_heads", 1, 1024, 24),
            fields.Int("joint_attention_dim", 1, 65536, 4096), fields.Int("pooled_projection_dim", 1, 65536, 768), fields.Bool("guidance_embeds", false),
            fields.Ints("axes_dims_rope", 8, 2, 1024, [16, 56, 56]));
        if (config.AxesDimsRope.Sum() != config.HeadDim || config.AxesDimsRope.Any(d => d % 2 != 0))
            throw new ModelLoadException(path, $"axes_dims_rope [{string.Join(", ", config.AxesDimsRope)}] must be even and sum to attention_head_dim {config.HeadDim}.");
        return config;
    }
}
