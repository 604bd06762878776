namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// A T5 encoder's shape as transformers' <c>T5Config</c> names it: vocabulary, width (<c>d_model</c>), head width
/// (<c>d_kv</c>), feed-forward width (<c>d_ff</c>), layers, heads, the relative position buckets and their reach, the
/// RMS norm's epsilon, and the feed-forward kind (<c>gated-gelu</c> for T5 v1.1, which FLUX.1 and SD3 use; <c>relu</c>
/// for the original T5).
/// </summary>
internal sealed record T5EncoderConfig(int VocabSize, int DModel, int DKv, int DFf, int Layers, int Heads,
    int RelativeAttentionBuckets, int RelativeAttentionMaxDistance, float LayerNormEpsilon, string FeedForward)
{
    /// <summary>google/t5-v1_1-xxl's encoder (FLUX.1's <c>text_encoder_2</c>, SD3's <c>text_encoder_3</c>): 4,762,310,656 parameters.</summary>
    public static T5EncoderConfig T5V11Xxl { get; } = new(32128, 4096, 64, 10240, 24, 64, 32, 128, 1e-6f, "gated-gelu");

    /// <summary>The width of the attention projections (heads × d_kv; 4096 for XXL).</summary>
    public int InnerDim => Heads * DKv;

    /// <summary>Reads a transformers T5 <c>config.json</c>.</summary>
    /// <exception cref="ModelLoadException">A field is missing, out of range, or names an unsupported feed-forward.</exception>
    public static T5EncoderConfig FromJson(string path)
    {
        using ConfigFields fields = ConfigFields.Read(path);
        string feedForward = fields.String("feed_forward_proj", "relu");
        if (feedForward is not ("gated-gelu" or "relu"))
            throw new ModelLoadException(path, $"feed_forward_proj '{feedForward}' is not supported (gated-gelu as T5 v1.1, or relu).");
        if (feedForward == "gated-gelu" && fields.String("dense_act_fn", "gelu_new") is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw new ModelLoadException(path, "dense_act_fn must be gelu_new (the tanh GELU) for gated-gelu.");
        int buckets = fields.Int("relative_attention_num_buckets", 2, 1024, 32);
        int maxDistance = fields.Int("relative_attention_max_distance", 1, 1 << 20, 128);
        // The bucket formula splits the buckets in halves (sign), then quarters (exact / logarithmic).
        if (buckets % 4 != 0 || maxDistance <= buckets / 4)
            throw new ModelLoadException(path, $"relative_attention_num_buckets {buckets} must be a multiple of 4 and relative_attention_max_distance ({maxDistance}) above a quarter of it.");
        return new T5EncoderConfig(fields.Int("vocab_size", 1, 1 << 20), fields.Int("d_model", 1, 65536), fields.Int("d_kv", 1, 4096),
            fields.Int("d_ff", 1, 1 << 18), fields.Int("num_layers", 1, 256), fields.Int("num_heads", 1, 1024), buckets, maxDistance,
            fields.Float("layer_norm_epsilon", 0, 1, 1e-6f), feedForward);
    }
}
