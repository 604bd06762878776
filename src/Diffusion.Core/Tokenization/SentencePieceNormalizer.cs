namespace Diffusion.Core.Tokenization;

/// <summary>
/// SentencePiece's normalizer (sentencepiece/src/normalizer.cc, <c>Normalizer::Normalize</c>) over UTF-8 bytes:
/// the model's compiled rules (<see cref="PrecompiledCharsMap"/>, e.g. NFKC plus control-character removal for T5),
/// user-defined symbols kept whole, leading/trailing/repeated whitespace removed, a dummy "▁" prefix, and spaces
/// escaped as "▁" (U+2581).
/// </summary>
internal sealed class SentencePieceNormalizer
{
    private static readonly byte[] s_spaceSymbol = [0xE2, 0x96, 0x81];
    private static readonly byte[] s_space = [(byte)' '];
    private static readonly byte[] s_replacementCharacter = [0xEF, 0xBF, 0xBD];

    private readonly PrecompiledCharsMap? _charsMap;
    private readonly ByteTrie _userDefined;

    public SentencePieceNormalizer(PrecompiledCharsMap? charsMap, ByteTrie userDefined, bool addDummyPrefix,
        bool removeExtraWhitespaces, bool escapeWhitespaces, bool treatWhitespaceAsSuffix)
    {
        _charsMap = charsMap;
        _userDefined = userDefined;
        AddDummyPrefix = addDummyPrefix;
        RemoveExtraWhitespaces = removeExtraWhitespaces;
        EscapeWhitespaces = escapeWhitespaces;
        TreatWhitespaceAsSuffix = treatWhitespaceAsSuffix;
    }

    public bool AddDummyPrefix { get; }

    public bool RemoveExtraWhitespaces { get; }

    public bool EscapeWhitespaces { get; }

    public bool TreatWhitespaceAsSuffix { get; }

    /// <summary>Normalizes UTF-8 <paramref name="input"/> into <paramref name="output"/> (cleared first).</summary>
    public void Normalize(ReadOnlySpan<byte> input, List<byte> output)
    {
        output.Clear();
        if (input.IsEmpty)
            return;

        if (RemoveExtraWhitespaces)
        {
            // Leading input that normalizes to a single space is dropped.
            while (!input.IsEmpty)
            {
                int consumed = NormalizePrefix(input, out ReadOnlySpan<byte> normalized);
                if (!normalized.SequenceEqual(s_space))
                    break;
                input = input[consumed..];
            }
        }
        if (input.IsEmpty)
            return;

        if (!TreatWhitespaceAsSuffix && AddDummyPrefix)
            AppendSpace(output);

        bool previousWasSpace = RemoveExtraWhitespaces;
        while (!input.IsEmpty)
        {
            int consumed = NormalizePrefix(input, out ReadOnlySpan<byte> piece);
            while (previousWasSpace && !piece.IsEmpty && piece[0] == (byte)' ')
                piece = piece[1..];
            if (!piece.IsEmpty)
            {
                foreach (byte b in piece)
                {
                    if (EscapeWhitespaces && b == (byte)' ')
                        output.AddRange(s_spaceSymbol);
                    else
                        output.Add(b);
                }
                previousWasSpace = piece[^1] == (byte)' ';
            }
            input = input[consumed..];
            if (!RemoveExtraWhitespaces)
                previousWasSpace = false;
        }

        if (RemoveExtraWhitespaces)
        {
            ReadOnlySpan<byte> space = EscapeWhitespaces ? s_spaceSymbol : s_space;
            while (EndsWith(output, space))
                output.RemoveRange(output.Count - space.Length, space.Length);
        }

        if (TreatWhitespaceAsSuffix && AddDummyPrefix)
            AppendSpace(output);
    }

    /// <summary><c>NormalizePrefix</c>: a user-defined symbol as is, else the longest rule, else one UTF-8 character as is (an invalid byte becomes U+FFFD).</summary>
    private int NormalizePrefix(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> normalized)
    {
        if (!_userDefined.IsEmpty)
        {
            int length = _userDefined.LongestPrefix(input);
            if (length > 0)
            {
                normalized = input[..length];
                return length;
            }
        }

        if (_charsMap is not null)
        {
            int length = _charsMap.LongestMatch(input, out normalized);
            if (length > 0)
                return length;
        }

        int characterLength = Utf8.ValidCharacterLength(input);
        if (characterLength == 0)
        {
            normalized = s_replacementCharacter;
            return 1;
        }
        normalized = input[..characterLength];
        return characterLength;
    }

    private void AppendSpace(List<byte> output)
    {
        if (EscapeWhitespaces)
            output.AddRange(s_spaceSymbol);
        else
            output.Add((byte)' ');
    }

    private static bool EndsWith(List<byte> bytes, ReadOnlySpan<byte> suffix)
    {
        if (bytes.Count < suffix.Length)
            return false;
        for (int i = 0; i < suffix.Length; i++)
        {
            if (bytes[bytes.Count - suffix.Length + i] != suffix[i])
                return false;
        }
        return true;
    }
}
