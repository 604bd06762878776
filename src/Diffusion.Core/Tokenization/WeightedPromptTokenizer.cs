namespace Diffusion.Core.Tokenization;

/// <summary>
/// Turns a prompt in the AUTOMATIC1111 web UI's syntax into weighted token chunks as the web UI's
/// <c>FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line</c> (modules/sd_hijack_clip.py) does, so prompts are not
/// cut at 75 tokens: each parsed piece is tokenized on its own, tokens are laid into chunks of
/// <see cref="ClipTokenizer.MaxLength"/> − 2, and a chunk that fills up moves the tokens after its last comma to the
/// next chunk when that comma is among the last <c>commaPaddingBacktrack</c> tokens. <c>BREAK</c> starts a new chunk.
/// </summary>
/// <remarks>
/// Textual-inversion tokens added with <see cref="ClipTokenizer.AddToken"/> are ordinary ids here: a multi-vector
/// embedding is not kept whole within one chunk as the web UI keeps it.
/// </remarks>
public static class WeightedPromptTokenizer
{
    /// <summary>The web UI's default <c>comma_padding_backtrack</c> setting.</summary>
    public const int DefaultCommaPaddingBacktrack = 20;

    /// <summary>Parses and tokenizes <paramref name="prompt"/> into chunks.</summary>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="prompt">The prompt in the web UI's syntax (see <see cref="PromptParser"/>).</param>
    /// <param name="minimumChunks">Chunks to return at least; missing ones are empty chunks (start token, end
    /// tokens), as the web UI pads a shorter prompt of a batch or the negative prompt.</param>
    /// <param name="commaPaddingBacktrack">How far back from a full chunk's end a comma may be to move the text after
    /// it to the next chunk; 0 turns this off.</param>
    /// <exception cref="InvalidOptionException">A weight is not a number, <paramref name="minimumChunks"/> is below 1,
    /// <paramref name="commaPaddingBacktrack"/> is negative, or the tokenizer's maximum length is below 3.</exception>
    public static PromptTokenChunks Tokenize(ClipTokenizer tokenizer, string prompt, int minimumChunks = 1, int commaPaddingBacktrack = DefaultCommaPaddingBacktrack)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(prompt);
        if (minimumChunks < 1)
            throw new InvalidOptionException(nameof(minimumChunks), $"must be at least 1, was {minimumChunks}.");
        if (commaPaddingBacktrack < 0)
            throw new InvalidOptionException(nameof(commaPaddingBacktrack), $"must be 0 (off) or more, was {commaPaddingBacktrack}.");
        if (tokenizer.MaxLength < 3)
            throw new InvalidOptionException(nameof(ClipTokenizer.MaxLength), $"chunks need room for a start token, a prompt token and an end token; the tokenizer's maximum length is {tokenizer.MaxLength}.");

        List<PromptFragment> fragments = PromptParser.ParseFragments(prompt);
        var builder = new ChunkBuilder(tokenizer);
        IReadOnlyList<int> commaIds = tokenizer.EncodeWithoutSpecialTokens(",");
        int commaId = commaIds.Count == 1 ? commaIds[0] : -1;
        int chunkLength = builder.PromptTokensPerChunk;

        foreach (PromptFragment fragment in fragments)
        {
            if (fragment.IsBreak)
            {
                builder.EndChunk(isLast: false);
                continue;
            }
            float weight = (float)fragment.Weight;
            IReadOnlyList<int> ids = tokenizer.EncodeWithoutSpecialTokens(fragment.Text);
            for (int position = 0; position < ids.Count; position++)
            {
                int id = ids[position];
                if (id == commaId)
                {
                    builder.LastComma = builder.Count;
                }
                else if (commaPaddingBacktrack != 0 && builder.Count == chunkLength && builder.LastComma != -1
                         && builder.Count - builder.LastComma <= commaPaddingBacktrack)
                {
                    builder.EndChunkAfterLastComma();
                }
                if (builder.Count == chunkLength)
                    builder.EndChunk(isLast: false);
                builder.Add(id, weight);
            }
        }
        if (builder.Count > 0 || builder.ChunkCount == 0)
            builder.EndChunk(isLast: true);
        while (builder.ChunkCount < minimumChunks)
            builder.AddEmptyChunk();
        return builder.Build();
    }

    /// <summary>Returns <paramref name="chunks"/> with empty chunks appended up to <paramref name="chunkCount"/>.</summary>
    internal static PromptTokenChunks PadTo(PromptTokenChunks chunks, int chunkCount, ClipTokenizer tokenizer)
    {
        if (chunks.ChunkCount >= chunkCount)
            return chunks;
        int length = chunks.ChunkLength;
        var ids = new int[chunkCount * length];
        var weights = new float[chunkCount * length];
        chunks.TokenIdArray.CopyTo(ids, 0);
        chunks.WeightArray.CopyTo(weights, 0);
        for (int chunk = chunks.ChunkCount; chunk < chunkCount; chunk++)
            WriteEmptyChunk(tokenizer, ids.AsSpan(chunk * length, length), weights.AsSpan(chunk * length, length));
        return new PromptTokenChunks(ids, weights, length, chunks.TokenCount);
    }

    private static void WriteEmptyChunk(ClipTokenizer tokenizer, Span<int> ids, Span<float> weights)
    {
        ids[0] = tokenizer.BosTokenId;
        ids[1] = tokenizer.EosTokenId;
        ids[2..].Fill(tokenizer.PadTokenId);
        weights.Fill(1f);
    }

    // The chunk being filled and the finished ones, mirroring tokenize_line's chunk / next_chunk.
    private sealed class ChunkBuilder(ClipTokenizer tokenizer)
    {
        private readonly List<int> _ids = new();
        private readonly List<float> _weights = new();
        private readonly List<int> _chunkIds = new();
        private readonly List<float> _chunkWeights = new();
        private int _tokenCount;

        public int PromptTokensPerChunk { get; } = tokenizer.MaxLength - 2;

        public int Count => _chunkIds.Count;

        public int ChunkCount { get; private set; }

        public int LastComma { get; set; } = -1;

        public void Add(int id, float weight)
        {
            _chunkIds.Add(id);
            _chunkWeights.Add(weight);
        }

        // The chunk ends after its last comma; the tokens after the comma open the next chunk.
        public void EndChunkAfterLastComma()
        {
            int breakLocation = LastComma + 1;
            int[] movedIds = _chunkIds.GetRange(breakLocation, _chunkIds.Count - breakLocation).ToArray();
            float[] movedWeights = _chunkWeights.GetRange(breakLocation, _chunkWeights.Count - breakLocation).ToArray();
            _chunkIds.RemoveRange(breakLocation, _chunkIds.Count - breakLocation);
            _chunkWeights.RemoveRange(breakLocation, _chunkWeights.Count - breakLocation);
            EndChunk(isLast: false);
            _chunkIds.AddRange(movedIds);
            _chunkWeights.AddRange(movedWeights);
        }

        public void EndChunk(bool isLast)
        {
            _tokenCount += isLast ? _chunkIds.Count : PromptTokensPerChunk;
            _ids.Add(tokenizer.BosTokenId);
            _weights.Add(1f);
            _ids.AddRange(_chunkIds);
            _weights.AddRange(_chunkWeights);
            for (int k = _chunkIds.Count; k < PromptTokensPerChunk + 1; k++)
            {
                _ids.Add(tokenizer.EosTokenId);
                _weights.Add(1f);
            }
            if (tokenizer.PadTokenId != tokenizer.EosTokenId)
            {
                // SD 2.x: the web UI pads after the chunk's first end token with the padding token.
                int chunkStart = _ids.Count - tokenizer.MaxLength;
                int firstEnd = _ids.IndexOf(tokenizer.EosTokenId, chunkStart);
                for (int k = firstEnd + 1; k < _ids.Count; k++)
                    _ids[k] = tokenizer.PadTokenId;
            }
            _chunkIds.Clear();
            _chunkWeights.Clear();
            LastComma = -1;
            ChunkCount++;
        }

        public void AddEmptyChunk()
        {
            int[] ids = new int[tokenizer.MaxLength];
            float[] weights = new float[tokenizer.MaxLength];
            WriteEmptyChunk(tokenizer, ids, weights);
            _ids.AddRange(ids);
            _weights.AddRange(weights);
            ChunkCount++;
        }

        public PromptTokenChunks Build() => new(_ids.ToArray(), _weights.ToArray(), tokenizer.MaxLength, _tokenCount);
    }
}
