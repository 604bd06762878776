namespace Diffusion.Core.Tokenization;

/// <summary>
/// A prompt as the text encoder sees it in the AUTOMATIC1111 web UI: one or more chunks of
/// <see cref="ChunkLength"/> token ids (start token, 75 prompt tokens or padding, end token), each token with the
/// weight its hidden state is multiplied by.
/// </summary>
public sealed class PromptTokenChunks
{
    private readonly int[] _tokenIds;
    private readonly float[] _weights;

    internal PromptTokenChunks(int[] tokenIds, float[] weights, int chunkLength, int tokenCount)
    {
        _tokenIds = tokenIds;
        _weights = weights;
        ChunkLength = chunkLength;
        ChunkCount = tokenIds.Length / chunkLength;
        TokenCount = tokenCount;
    }

    /// <summary>How many chunks the prompt takes (at least one).</summary>
    public int ChunkCount { get; }

    /// <summary>Ids per chunk: the tokenizer's <see cref="ClipTokenizer.MaxLength"/> (77 for Stable Diffusion).</summary>
    public int ChunkLength { get; }

    /// <summary>All chunks' ids end to end: <see cref="ChunkCount"/> × <see cref="ChunkLength"/>.</summary>
    public int SequenceLength => _tokenIds.Length;

    /// <summary>
    /// The ids, chunk after chunk: start token, the chunk's prompt tokens, end tokens up to the last place, end token.
    /// When the tokenizer's padding token differs from its end token (SD 2.x), everything after a chunk's first end
    /// token is the padding token, as the web UI feeds the encoder.
    /// </summary>
    public ReadOnlyMemory<int> TokenIds => _tokenIds;

    /// <summary>Each id's weight (float32, as the web UI hands them to torch): 1 for start, end and padding tokens.</summary>
    public ReadOnlyMemory<float> Weights => _weights;

    /// <summary>
    /// The web UI's token count (its "n/75" counter): 75 for each chunk ended early by its length or by a
    /// <c>BREAK</c>, plus the tokens of the last chunk; padding chunks are not counted.
    /// </summary>
    public int TokenCount { get; }

    /// <summary>The id array itself, for the encoder (not copied).</summary>
    internal int[] TokenIdArray => _tokenIds;

    /// <summary>The weight array itself, for the encoder (not copied).</summary>
    internal float[] WeightArray => _weights;
}
