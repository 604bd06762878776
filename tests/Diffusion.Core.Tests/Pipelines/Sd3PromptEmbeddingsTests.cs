using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>Sd3PromptEmbeddings as StableDiffusion3Pipeline.encode_prompt joins its encoders (cat on width, F.pad to T5's width, cat on tokens).</summary>
public sealed class Sd3PromptEmbeddingsTests
{
    [Fact]
    public void Clip_states_sit_side_by_side_padded_then_t5_follows()
    {
        // batch 2, CLIP 3 tokens of widths 2 (L) and 3 (G), T5 2 tokens of width 7.
        float[] l = Enumerable.Range(0, 2 * 3 * 2).Select(i => 100f + i).ToArray();
        float[] g = Enumerable.Range(0, 2 * 3 * 3).Select(i => 200f + i).ToArray();
        float[] t5 = Enumerable.Range(0, 2 * 2 * 7).Select(i => 300f + i).ToArray();
        var joined = new float[2 * 5 * 7];
        Sd3PromptEmbeddings.Join(l, g, t5, 2, 3, 2, 3, 2, 7, joined);
        // Batch 1, CLIP token 2: L values 110,111, G values 215..217, two zeros.
        Assert.Equal([110f, 111f, 215f, 216f, 217f, 0f, 0f], joined.AsSpan((5 + 2) * 7, 7).ToArray());
        // Batch 1, T5 token 0 (row 3).
        Assert.Equal(t5.AsSpan(14, 7).ToArray(), joined.AsSpan((5 + 3) * 7, 7).ToArray());
    }

    [Fact]
    public void Without_t5_the_rows_after_clip_are_zero()
    {
        var joined = new float[1 * (2 + 3) * 4];
        Array.Fill(joined, float.NaN);
        Sd3PromptEmbeddings.Join([1, 2, 3, 4], [5, 6], [], 1, 2, 2, 1, 3, 4, joined);
        Assert.Equal([1f, 2f, 5f, 0f, 3f, 4f, 6f, 0f], joined.AsSpan(0, 8).ToArray());
        Assert.All(joined.AsSpan(8).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Pooled_projections_are_l_then_g()
    {
        var pooled = new float[2 * 3];
        Sd3PromptEmbeddings.JoinPooled([1, 2], [10, 11, 20, 21], 2, 1, 2, pooled);
        Assert.Equal([1f, 10f, 11f, 2f, 20f, 21f], pooled);
    }

    [Fact]
    public void Clip_wider_than_t5_is_refused()
        => Assert.Throws<ArgumentException>(() => Sd3PromptEmbeddings.Join(new float[4], new float[4], [], 1, 1, 4, 4, 0, 6, new float[6]));
}
