using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// CLIP's byte-level BPE over token ids: a word's UTF-8 bytes become byte symbols (the last one carrying the
/// "&lt;/w&gt;" end-of-word mark), then the adjacent pair with the lowest merge rank is merged everywhere, left
/// to right, until no ranked pair is left (<c>SimpleTokenizer.bpe</c>). Results are cached per word, as OpenAI's
/// tokenizer does.
/// </summary>
internal sealed class ClipBpeModel
{
    /// <summary>Beyond this many cached words new words are still encoded, just not remembered.</summary>
    private const int MaxCachedWords = 100_000;

    private const string EndOfWord = "</w>";

    private readonly Dictionary<long, Merge> _merges;
    private readonly int[] _byteSymbolIds = new int[256];
    private readonly int[] _finalByteSymbolIds = new int[256];
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
#if NET9_0_OR_GREATER
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
#endif

    private ClipBpeModel(Dictionary<string, int> vocabulary, string?[] tokensById, Dictionary<long, Merge> merges)
    {
        Vocabulary = vocabulary;
        TokensById = tokensById;
        _merges = merges;
#if NET9_0_OR_GREATER
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
#endif
    }

    /// <summary>Token → id, as read from vocab.json.</summary>
    public Dictionary<string, int> Vocabulary { get; }

    /// <summary>Id → token (null where vocab.json has no token for an id).</summary>
    public string?[] TokensById { get; }

    /// <summary>Reads <paramref name="vocabPath"/> and <paramref name="mergesPath"/>.</summary>
    public static ClipBpeModel Load(string vocabPath, string mergesPath)
    {
        var vocabulary = BpeVocabularyReader.ReadVocabulary(vocabPath);
        var pairs = BpeVocabularyReader.ReadMerges(mergesPath);

        int maxId = 0;
        foreach (int id in vocabulary.Values)
            maxId = Math.Max(maxId, id);
        var tokensById = new string?[maxId + 1];
        foreach (var (token, id) in vocabulary)
        {
            // Two tokens on one id (say <|endoftext|> and a word) would make ids ambiguous: decoding, the end marker
            // and padding would all be wrong without an error.
            if (tokensById[id] is { } other)
                throw new ModelLoadException(vocabPath, $"tokens \"{other}\" and \"{token}\" share id {id}; every token needs its own id.");
            tokensById[id] = token;
        }

        var merges = new Dictionary<long, Merge>(pairs.Count);
        for (int rank = 0; rank < pairs.Count; rank++)
        {
            var (left, right) = pairs[rank];
            if (!vocabulary.TryGetValue(left, out int leftId) || !vocabulary.TryGetValue(right, out int rightId)
                || !vocabulary.TryGetValue(left + right, out int mergedId))
            {
                throw new ModelLoadException(mergesPath,
                    $"merge {rank + 2} (\"{left} {right}\") uses or makes a token that {Path.GetFileName(vocabPath)} lacks.");
            }
            // A repeated pair keeps its last rank, as Python's dict(zip(merges, ranks)) does.
            merges[PairKey(leftId, rightId)] = new Merge(rank, mergedId);
        }

        var model = new ClipBpeModel(vocabulary, tokensById, merges);
        // OpenAI seeds its cache with the two special tokens, so that CLIP's pattern, which keeps them whole,
        // maps them straight to their ids instead of running BPE on them.
        foreach (string special in new[] { ClipPreTokenizer.StartOfText, ClipPreTokenizer.EndOfText })
        {
            if (vocabulary.TryGetValue(special, out int specialId))
                model._cache[special] = [specialId];
        }
        for (int b = 0; b < 256; b++)
        {
            string symbol = ByteLevelAlphabet.ToChar((byte)b).ToString();
            if (!vocabulary.TryGetValue(symbol, out model._byteSymbolIds[b])
                || !vocabulary.TryGetValue(symbol + EndOfWord, out model._finalByteSymbolIds[b]))
            {
                throw new ModelLoadException(vocabPath,
                    $"the byte-level symbol \"{symbol}\" (byte 0x{b:X2}) or \"{symbol}{EndOfWord}\" is missing.");
            }
        }
        return model;
    }

    /// <summary>Appends the ids of <paramref name="word"/> (one pre-tokenized word) to <paramref name="ids"/>.</summary>
    public void AppendWordIds(ReadOnlySpan<char> word, ref IdBuffer ids)
    {
        int[]? cached;
#if NET9_0_OR_GREATER
        _cacheBySpan.TryGetValue(word, out cached);
#else
        _cache.TryGetValue(word.ToString(), out cached);
#endif
        if (cached is null)
        {
            cached = Encode(word);
            if (_cache.Count < MaxCachedWords)
                _cache.TryAdd(word.ToString(), cached);
        }
        ids.AddRange(cached);
    }

    private int[] Encode(ReadOnlySpan<char> word)
    {
        int byteCount = Encoding.UTF8.GetByteCount(word);
        byte[] rentedBytes = ArrayPool<byte>.Shared.Rent(byteCount);
        int[] rentedWork = ArrayPool<int>.Shared.Rent(byteCount * 4);
        try
        {
            Encoding.UTF8.GetBytes(word, rentedBytes);
            var work = rentedWork.AsSpan(0, byteCount * 4);
            var symbols = work[..byteCount];
            for (int k = 0; k < byteCount - 1; k++)
                symbols[k] = _byteSymbolIds[rentedBytes[k]];
            symbols[byteCount - 1] = _finalByteSymbolIds[rentedBytes[byteCount - 1]];
            int count = MergeAll(symbols, work.Slice(byteCount, byteCount), work.Slice(2 * byteCount, byteCount), work.Slice(3 * byteCount, byteCount));
            return symbols[..count].ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rentedBytes);
            ArrayPool<int>.Shared.Return(rentedWork);
        }
    }

    // OpenAI's loop: find the adjacent pair with the lowest rank, merge all its occurrences left to right, repeat
    // until no pair has a rank. ranks[k] / mergedIds[k] hold the rank and result of the pair (k, k+1), so that
    // each round recomputes only the pairs next to a merge. Returns the final symbol count.
    private int MergeAll(Span<int> symbols, Span<int> ranks, Span<int> mergedIds, Span<int> mergedPositions)
    {
        int count = symbols.Length;
        for (int k = 0; k < count - 1; k++)
            LookUpPair(symbols, k, ranks, mergedIds);
        while (count > 1)
        {
            // The first occurrence of the lowest rank; a rank belongs to one pair, so every later occurrence of
            // the same rank is the same pair.
            int best = -1;
            int bestRank = int.MaxValue;
            for (int k = 0; k < count - 1; k++)
            {
                if (ranks[k] < bestRank)
                {
                    bestRank = ranks[k];
                    best = k;
                }
            }
            if (best < 0)
                break;

            int first = symbols[best];
            int second = symbols[best + 1];
            int merged = mergedIds[best];
            int written = best;
            int mergeCount = 0;
            for (int k = best; k < count;)
            {
                if (k < count - 1 && symbols[k] == first && symbols[k + 1] == second)
                {
                    symbols[written] = merged;
                    mergedPositions[mergeCount++] = written;
                    written++;
                    k += 2;
                }
                else
                {
                    // Provisional: right unless the next symbol turns out to be a merge (fixed below).
                    symbols[written] = symbols[k];
                    ranks[written] = ranks[k];
                    mergedIds[written] = mergedIds[k];
                    written++;
                    k++;
                }
            }
            count = written;
            for (int m = 0; m < mergeCount; m++)
            {
                int position = mergedPositions[m];
                if (position > 0)
                    LookUpPair(symbols, position - 1, ranks, mergedIds);
                if (position < count - 1)
                    LookUpPair(symbols, position, ranks, mergedIds);
            }
        }
        return count;
    }

    private void LookUpPair(Span<int> symbols, int k, Span<int> ranks, Span<int> mergedIds)
    {
        if (_merges.TryGetValue(PairKey(symbols[k], symbols[k + 1]), out var merge))
        {
            ranks[k] = merge.Rank;
            mergedIds[k] = merge.MergedId;
        }
        else
        {
            ranks[k] = int.MaxValue;
            mergedIds[k] = -1;
        }
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    private readonly record struct Merge(int Rank, int MergedId);
}
