namespace Diffusion.Core.TextEncoding;

/// <summary>
/// A prompt's text embeddings for the UNet's <c>encoder_hidden_states</c>: <c>[SequenceLength, HiddenSize]</c>
/// float32, row-major, the chunks' hidden states end to end along the sequence axis.
/// </summary>
public sealed class PromptEmbeddings
{
    /// <summary>Creates the result; <paramref name="values"/> is kept, not copied.</summary>
    /// <exception cref="ArgumentException"><paramref name="values"/> does not hold <paramref name="sequenceLength"/> × <paramref name="hiddenSize"/> values.</exception>
    public PromptEmbeddings(float[] values, int sequenceLength, int hiddenSize, int chunkCount, int droppedTokenCount)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(hiddenSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkCount, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(droppedTokenCount);
        if ((long)sequenceLength * hiddenSize != values.Length)
            throw new ArgumentException($"expected {sequenceLength} x {hiddenSize} values, got {values.Length}.", nameof(values));
        Values = values;
        SequenceLength = sequenceLength;
        HiddenSize = hiddenSize;
        ChunkCount = chunkCount;
        DroppedTokenCount = droppedTokenCount;
    }

    /// <summary>The embeddings, <c>[SequenceLength, HiddenSize]</c> row-major.</summary>
    public float[] Values { get; }

    /// <summary>Tokens along the sequence axis: 77 × <see cref="ChunkCount"/> for Stable Diffusion.</summary>
    public int SequenceLength { get; }

    /// <summary>Width of each token's embedding (768 for SD 1.x, 1024 for SD 2.x).</summary>
    public int HiddenSize { get; }

    /// <summary>How many 77-token windows were encoded (always 1 for <see cref="PromptSyntax.Plain"/> unless padded).</summary>
    public int ChunkCount { get; }

    /// <summary>True when prompt tokens were dropped to fit (only <see cref="PromptSyntax.Plain"/> drops any).</summary>
    public bool Truncated => DroppedTokenCount > 0;

    /// <summary>
    /// The text encoder's pooled output for the prompt ([width]; of the first 77-token chunk when there are several),
    /// when the embedder was asked for it (SDXL's <c>text_encoder_2</c>); else <see langword="null"/>.
    /// </summary>
    public float[]? Pooled { get; init; }

    /// <summary>How many prompt tokens the text encoder never saw.</summary>
    public int DroppedTokenCount { get; }
}
