namespace Diffusion.Core.Tokenization;

/// <summary>
/// The best segmentation of a normalized string under a unigram language model: SentencePiece's
/// <c>unigram::Model::EncodeOptimized</c> (sentencepiece/src/unigram_model.cc), the Viterbi pass it runs by default,
/// with its arithmetic kept (float32 path scores, a candidate compared before it is rounded) so ties break as there.
/// </summary>
internal sealed class UnigramEncoder
{
    /// <summary>kUnkPenalty: an unknown character costs this much more than the least likely piece.</summary>
    private const float UnknownPenalty = 10f;

    private readonly ByteTrie _pieces;
    private readonly float[] _scores;
    private readonly bool[] _userDefined;
    private readonly bool[] _unused;
    private readonly int _unknownId;
    private readonly float _maxScore;
    private readonly float _unknownScore;

    public UnigramEncoder(ByteTrie pieces, float[] scores, bool[] userDefined, bool[] unused, int unknownId, float minScore, float maxScore)
    {
        _pieces = pieces;
        _scores = scores;
        _userDefined = userDefined;
        _unused = unused;
        _unknownId = unknownId;
        _maxScore = maxScore;
        _unknownScore = minScore - UnknownPenalty;
    }

    /// <summary>Appends (start, end, id) of each piece of the best path over <paramref name="normalized"/> to <paramref name="result"/>.</summary>
    public void Encode(ReadOnlySpan<byte> normalized, List<(int Start, int End, int Id)> result)
    {
        int size = normalized.Length;
        if (size == 0)
            return;
        var ids = new int[size + 1];
        var scores = new float[size + 1];
        var startsAt = new int[size + 1];
        Array.Fill(startsAt, -1);

        int start = 0;
        while (start < size)
        {
            float scoreTillHere = scores[start];
            bool hasSingleCharacterPiece = false;
            int characterLength = Math.Min(Utf8.LeadByteLength(normalized[start]), size - start);
            int node = 0;
            for (int end = start + 1; end <= size; end++)
            {
                node = _pieces.Step(node, normalized[end - 1], out int id);
                if (node < 0)
                    break;
                if (id < 0 || _unused[id])
                    continue;
                int length = end - start;
                // As the C++: `cond ? length * max_score - 0.1 : score` is a double for every piece, so the candidate
                // is a double sum, compared unrounded with the stored float and stored rounded.
                double pieceScore = _userDefined[id] ? (double)((float)length * _maxScore) - 0.1 : _scores[id];
                double candidate = pieceScore + scoreTillHere;
                if (startsAt[end] == -1 || candidate > scores[end])
                {
                    scores[end] = (float)candidate;
                    startsAt[end] = start;
                    ids[end] = id;
                }
                if (length == characterLength)
                    hasSingleCharacterPiece = true;
            }

            if (!hasSingleCharacterPiece)
            {
                int end = start + characterLength;
                float candidate = _unknownScore + scoreTillHere;
                if (startsAt[end] == -1 || candidate > scores[end])
                {
                    scores[end] = candidate;
                    startsAt[end] = start;
                    ids[end] = _unknownId;
                }
            }
            start += characterLength;
        }

        int first = result.Count;
        for (int end = size; end > 0; end = startsAt[end])
            result.Add((startsAt[end], end, ids[end]));
        result.Reverse(first, result.Count - first);
    }
}
