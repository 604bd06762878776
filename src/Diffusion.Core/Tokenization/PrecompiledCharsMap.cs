using System.Buffers.Binary;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// SentencePiece's compiled normalization rules (the <c>precompiled_charsmap</c> of a model's normalizer spec, e.g.
/// T5's <c>nmt_nfkc</c>): a darts-clone double-array trie over UTF-8 input prefixes whose values point into a blob
/// of NUL-terminated replacement strings. Mirrors <c>Normalizer::NormalizePrefix</c>'s trie lookup
/// (sentencepiece/src/normalizer.cc): the longest matching prefix wins.
/// </summary>
/// <remarks>
/// The blob comes from a model file, so every array access is checked; a trie that points outside itself throws
/// <see cref="ModelLoadException"/> naming the file rather than reading past the buffer.
/// </remarks>
internal sealed class PrecompiledCharsMap
{
    private readonly uint[] _units;
    private readonly byte[] _normalized;
    private readonly string _source;

    private PrecompiledCharsMap(uint[] units, byte[] normalized, string source)
    {
        _units = units;
        _normalized = normalized;
        _source = source;
    }

    /// <summary>Splits the blob: a little-endian uint32 trie size, the trie's 32-bit units, then the replacement strings.</summary>
    /// <exception cref="ModelLoadException">The blob is too short or its trie size does not fit it.</exception>
    public static PrecompiledCharsMap Parse(ReadOnlySpan<byte> blob, string source)
    {
        if (blob.Length <= 4)
            throw new ModelLoadException(source, "the normalizer's precompiled_charsmap is too short to hold its trie.");
        uint trieSize = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieSize == 0 || trieSize % 4 != 0 || trieSize > (uint)(blob.Length - 4))
            throw new ModelLoadException(source, $"the normalizer's precompiled_charsmap declares a {trieSize}-byte trie in a {blob.Length}-byte blob.");
        var units = new uint[trieSize / 4];
        for (int i = 0; i < units.Length; i++)
            units[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob.Slice(4 + 4 * i));
        return new PrecompiledCharsMap(units, blob[(4 + (int)trieSize)..].ToArray(), source);
    }

    /// <summary>
    /// The longest prefix of <paramref name="input"/> the rules replace: its length in bytes (0 when none matches)
    /// and the replacement (possibly empty: the rules delete control characters).
    /// </summary>
    public int LongestMatch(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        replacement = default;
        int longest = 0;
        int nodePos = 0;
        uint unit = Unit(nodePos);
        nodePos ^= Offset(unit);
        for (int i = 0; i < input.Length; i++)
        {
            byte label = input[i];
            nodePos ^= label;
            unit = Unit(nodePos);
            if (Label(unit) != label)
                break;
            nodePos ^= Offset(unit);
            if (HasLeaf(unit))
            {
                // darts-clone stores the value in the unit the leaf edge leads to.
                longest = i + 1;
                replacement = Replacement((int)(Unit(nodePos) & 0x7FFFFFFFu));
            }
        }
        return longest;
    }

    private uint Unit(int position)
    {
        if ((uint)position >= (uint)_units.Length)
            throw new ModelLoadException(_source, "the normalizer's precompiled_charsmap trie points outside itself (corrupt model file).");
        return _units[position];
    }

    private ReadOnlySpan<byte> Replacement(int offset)
    {
        if ((uint)offset >= (uint)_normalized.Length)
            throw new ModelLoadException(_source, "the normalizer's precompiled_charsmap points past its replacement strings (corrupt model file).");
        ReadOnlySpan<byte> rest = _normalized.AsSpan(offset);
        int end = rest.IndexOf((byte)0);
        if (end < 0)
            throw new ModelLoadException(_source, "a replacement string of the normalizer's precompiled_charsmap is not terminated (corrupt model file).");
        return rest[..end];
    }

    // darts-clone's unit layout (darts.h, DoubleArrayUnit).
    private static bool HasLeaf(uint unit) => ((unit >> 8) & 1) == 1;

    private static uint Label(uint unit) => unit & ((1u << 31) | 0xFF);

    private static int Offset(uint unit) => (int)((unit >> 10) << (int)((unit & (1u << 9)) >> 6));
}
