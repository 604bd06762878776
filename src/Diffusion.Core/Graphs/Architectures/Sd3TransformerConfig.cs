namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>SD3Transformer2DModel</c> (MMDiT) shape: patching, layers, heads, the text widths, the learned-size
/// sin-cos position table, and SD3.5's additions (QK RMS norm, dual attention layers).
/// </summary>
internal sealed record Sd3TransformerConfig(int SampleSize, int PatchSize, int InChannels, int Layers, int HeadDim, int Heads,
    int JointAttentionDim, int CaptionProjectionDim, int PooledProjectionDim, int OutChannels, int PosEmbedMaxSize,
    int[] DualAttentionLayers, bool QkRmsNorm)
{
    /// <summary>The width of every block (heads × head width).</summary>
    public int InnerDim => Heads * HeadDim;

    /// <summary>Stable Diffusion 3 medium: 24 layers of 24 × 64 heads.</summary>
    public static Sd3TransformerConfig Sd3Medium { get; } = new(128, 2, 16, 24, 64, 24, 4096, 1536, 2048, 16, 192, [], false);

    /// <summary>Stable Diffusion 3.5 medium: as SD3 medium with QK RMS norm, dual attention in layers 0–12 and a 384² position table.</summary>
    public static Sd3TransformerConfig Sd35Medium { get; } = new(128, 2, 16, 24, 64, 24, 4096, 1536, 2048, 16, 384, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], true);

    /// <summary>Stable Diffusion 3.5 large: 38 layers of 38 × 64 heads with QK RMS norm.</summary>
    public static Sd3TransformerConfig Sd35Large { get; } = new(128, 2, 16, 38, 64, 38, 4096, 2432, 2048, 16, 192, [], true);

    /// <summary>Reads a diffusers <c>transformer/config.json</c> (<c>_class_name</c> SD3Transformer2DModel).</summary>
    /// <exception cref="ModelLoadException">A field is missing, out of range or unsupported.</exception>
    public static Sd3TransformerConfig FromJson(string path)
    {
        using ConfigFields fields = ConfigFields.Read(path);
        string className = fields.String("_class_name", "SD3Transformer2DModel");
        if (className != "SD3Transformer2DModel")
            throw new ModelLoadException(path, $"_class_name is {className}; this builder knows SD3Transformer2DModel.");
        string qkNorm = fields.String("qk_norm", "none");
        if (qkNorm is not ("none" or "rms_norm"))
            throw new ModelLoadException(path, $"qk_norm '{qkNorm}' is not supported (rms_norm or none).");
        int layers = fields.Int("num_layers", 1, 256, 18);
        int inChannels = fields.Int("in_channels", 1, 256, 16);
        var config = new Sd3TransformerConfig(fields.Int("sample_size", 1, 4096, 128), fields.Int("patch_size", 1, 16, 2), inChannels, layers,
            fields.Int("attention_head_dim", 1, 1024, 64), fields.Int("num_attention_heads", 1, 1024, 18), fields.Int("joint_attention_dim", 1, 65536, 4096),
            fields.Int("caption_projection_dim", 1, 65536, 1152), fields.Int("pooled_projection_dim", 1, 65536, 2048),
            fields.Has("out_channels") ? fields.Int("out_channels", 1, 256) : inChannels, fields.Int("pos_embed_max_size", 1, 4096, 96),
            fields.Ints("dual_attention_layers", 256, 0, layers - 1, [], allowEmpty: true), qkNorm == "rms_norm");
        // The joint attention concatenates image and caption tokens: both must have the block width.
        if (config.CaptionProjectionDim != config.InnerDim)
            throw new ModelLoadException(path, $"caption_projection_dim {config.CaptionProjectionDim} must equal num_attention_heads × attention_head_dim ({config.InnerDim}).");
        return config;
    }
}
