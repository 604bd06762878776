namespace Diffusion.Core.Tokenization;

/// <summary>
/// A prompt encoded for a text encoder: for CLIP <c>&lt;|startoftext|&gt;</c>, the prompt's tokens,
/// <c>&lt;|endoftext|&gt;</c>; for T5 the prompt's tokens and <c>&lt;/s&gt;</c>; then padding up to the maximum length. When the prompt does not fit, its first tokens are kept and
/// <see cref="Truncated"/> says so: the text encoder never sees the rest.
/// </summary>
public sealed class TokenizedText
{
    /// <summary>Creates the result; <paramref name="ids"/> is kept, not copied.</summary>
    public TokenizedText(int[] ids, int tokenCount, int droppedTokenCount)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentOutOfRangeException.ThrowIfNegative(droppedTokenCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(tokenCount, ids.Length);
        Ids = ids;
        TokenCount = tokenCount;
        DroppedTokenCount = droppedTokenCount;
    }

    /// <summary>The padded token ids; their count is the tokenizer's maximum length (<see cref="ClipTokenizer.MaxLength"/>, or T5's <c>max_sequence_length</c>).</summary>
    public int[] Ids { get; }

    /// <summary>How many of <see cref="Ids"/> are not padding: start and end tokens included, after truncation.</summary>
    public int TokenCount { get; }

    /// <summary>True when the prompt had more tokens than fit and the last ones were dropped.</summary>
    public bool Truncated => DroppedTokenCount > 0;

    /// <summary>How many of the prompt's tokens were dropped to fit (0 when none were).</summary>
    public int DroppedTokenCount { get; }
}
