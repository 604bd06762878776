namespace Diffusion.Core.Pipelines;

/// <summary>
/// How SD3/3.5 joins its three text encoders (diffusers' <c>StableDiffusion3Pipeline.encode_prompt</c>): CLIP-L's and
/// CLIP-G's penultimate hidden states concatenated along the width (768 + 1280), zero-padded to T5's width (4096), then
/// T5's sequence appended after CLIP's 77 tokens; the pooled embeddings are CLIP-L's and CLIP-G's projections side by side.
/// </summary>
public static class Sd3PromptEmbeddings
{
    /// <summary>
    /// Writes [batch, clipTokens + t5Tokens, t5Width]: per token, CLIP-L's then CLIP-G's values then zeros, followed by T5's
    /// tokens (or, without a T5 encoder, <paramref name="t5Tokens"/> rows of zeros as diffusers substitutes).
    /// </summary>
    /// <param name="clipL">[batch, clipTokens, clipLWidth].</param>
    /// <param name="clipG">[batch, clipTokens, clipGWidth].</param>
    /// <param name="t5">[batch, t5Tokens, t5Width], or empty when the model has no T5 encoder.</param>
    /// <param name="batch">Prompts in the batch.</param>
    /// <param name="clipTokens">CLIP's sequence length (77).</param>
    /// <param name="clipLWidth">CLIP-L's width (768).</param>
    /// <param name="clipGWidth">CLIP-G's width (1280).</param>
    /// <param name="t5Tokens">T5's sequence length (<c>max_sequence_length</c>; 77 zero rows without T5, as diffusers).</param>
    /// <param name="t5Width">T5's width (4096; the transformer's <c>joint_attention_dim</c>).</param>
    /// <param name="destination">[batch, clipTokens + t5Tokens, t5Width].</param>
    /// <exception cref="ArgumentException">A span has the wrong length, or the CLIP widths exceed T5's.</exception>
    public static void Join(ReadOnlySpan<float> clipL, ReadOnlySpan<float> clipG, ReadOnlySpan<float> t5, int batch, int clipTokens,
        int clipLWidth, int clipGWidth, int t5Tokens, int t5Width, Span<float> destination)
    {
        if (clipLWidth + clipGWidth > t5Width)
            throw new ArgumentException($"CLIP widths {clipLWidth} + {clipGWidth} exceed the T5 width {t5Width} they are padded to.");
        Require(clipL.Length, (long)batch * clipTokens * clipLWidth, nameof(clipL));
        Require(clipG.Length, (long)batch * clipTokens * clipGWidth, nameof(clipG));
        if (!t5.IsEmpty)
            Require(t5.Length, (long)batch * t5Tokens * t5Width, nameof(t5));
        int tokens = clipTokens + t5Tokens;
        Require(destination.Length, (long)batch * tokens * t5Width, nameof(destination));
        destination.Clear();
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < clipTokens; t++)
            {
                Span<float> row = destination.Slice((b * tokens + t) * t5Width, t5Width);
                clipL.Slice((b * clipTokens + t) * clipLWidth, clipLWidth).CopyTo(row);
                clipG.Slice((b * clipTokens + t) * clipGWidth, clipGWidth).CopyTo(row[clipLWidth..]);
            }
            if (!t5.IsEmpty)
                t5.Slice(b * t5Tokens * t5Width, t5Tokens * t5Width).CopyTo(destination.Slice((b * tokens + clipTokens) * t5Width));
        }
    }

    /// <summary>The pooled projection input: [batch, lWidth + gWidth], CLIP-L's <c>text_embeds</c> then CLIP-G's.</summary>
    /// <exception cref="ArgumentException">A span has the wrong length.</exception>
    public static void JoinPooled(ReadOnlySpan<float> pooledL, ReadOnlySpan<float> pooledG, int batch, int lWidth, int gWidth, Span<float> destination)
    {
        Require(pooledL.Length, (long)batch * lWidth, nameof(pooledL));
        Require(pooledG.Length, (long)batch * gWidth, nameof(pooledG));
        Require(destination.Length, (long)batch * (lWidth + gWidth), nameof(destination));
        for (int b = 0; b < batch; b++)
        {
            pooledL.Slice(b * lWidth, lWidth).CopyTo(destination.Slice(b * (lWidth + gWidth)));
            pooledG.Slice(b * gWidth, gWidth).CopyTo(destination.Slice(b * (lWidth + gWidth) + lWidth));
        }
    }

    private static void Require(int actual, long expected, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"holds {actual} values, expected {expected}.", name);
    }
}
