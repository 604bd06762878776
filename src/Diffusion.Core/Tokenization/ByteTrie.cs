namespace Diffusion.Core.Tokenization;

/// <summary>
/// A trie over UTF-8 byte strings mapping each stored string to an id: the piece vocabulary of a SentencePiece
/// unigram model (what its darts trie holds) and the user-defined symbols its normalizer must keep whole.
/// </summary>
internal sealed class ByteTrie
{
    private readonly Dictionary<long, int> _edges = new();
    private readonly List<int> _values = [-1];

    /// <summary>Adds <paramref name="key"/> with <paramref name="value"/>; false when the key is already present (the first value stays).</summary>
    public bool Add(ReadOnlySpan<byte> key, int value)
    {
        int node = 0;
        foreach (byte b in key)
        {
            long edge = ((long)node << 8) | b;
            if (!_edges.TryGetValue(edge, out int child))
            {
                child = _values.Count;
                _values.Add(-1);
                _edges.Add(edge, child);
            }
            node = child;
        }
        if (_values[node] >= 0)
            return false;
        _values[node] = value;
        return true;
    }

    /// <summary>True when the trie holds no key.</summary>
    public bool IsEmpty => _values.Count == 1;

    /// <summary>
    /// From <paramref name="node"/>, follows the byte <paramref name="label"/>: returns the node reached, or -1 when no stored key
    /// continues that way (darts' <c>traverse</c> result −2). <paramref name="value"/> is the id stored at that node, or −1.
    /// </summary>
    public int Step(int node, byte label, out int value)
    {
        if (!_edges.TryGetValue(((long)node << 8) | label, out int child))
        {
            value = -1;
            return -1;
        }
        value = _values[child];
        return child;
    }

    /// <summary>The length of the longest stored key that <paramref name="input"/> starts with (0 for none).</summary>
    public int LongestPrefix(ReadOnlySpan<byte> input)
    {
        int node = 0, longest = 0;
        for (int i = 0; i < input.Length; i++)
        {
            node = Step(node, input[i], out int value);
            if (node < 0)
                break;
            if (value >= 0)
                longest = i + 1;
        }
        return longest;
    }
}
