namespace Diffusion.Core.Tokenization;

/// <summary>The UTF-8 helpers of sentencepiece/src/util.cc, byte for byte.</summary>
internal static class Utf8
{
    /// <summary>
    /// The length of the well-formed character <paramref name="input"/> starts with (<c>DecodeUTF8</c>: no overlong
    /// forms, no surrogates, at most U+10FFFF), or 0 when it starts with an invalid sequence. U+FFFD itself is valid.
    /// </summary>
    public static int ValidCharacterLength(ReadOnlySpan<byte> input)
    {
        byte b0 = input[0];
        if (b0 < 0x80)
            return 1;
        if (input.Length >= 2 && (b0 & 0xE0) == 0xC0)
        {
            int cp = ((b0 & 0x1F) << 6) | (input[1] & 0x3F);
            return IsTrail(input[1]) && cp >= 0x80 ? 2 : 0;
        }
        if (input.Length >= 3 && (b0 & 0xF0) == 0xE0)
        {
            int cp = ((b0 & 0x0F) << 12) | ((input[1] & 0x3F) << 6) | (input[2] & 0x3F);
            return IsTrail(input[1]) && IsTrail(input[2]) && cp >= 0x800 && IsValidCodepoint(cp) ? 3 : 0;
        }
        if (input.Length >= 4 && (b0 & 0xF8) == 0xF0)
        {
            int cp = ((b0 & 0x07) << 18) | ((input[1] & 0x3F) << 12) | ((input[2] & 0x3F) << 6) | (input[3] & 0x3F);
            return IsTrail(input[1]) && IsTrail(input[2]) && IsTrail(input[3]) && cp >= 0x10000 && IsValidCodepoint(cp) ? 4 : 0;
        }
        return 0;
    }

    /// <summary><c>OneCharLen</c>: the character length the lead byte announces (1 for a stray trail byte).</summary>
    public static int LeadByteLength(byte lead) => (lead >> 4) switch
    {
        0xC or 0xD => 2,
        0xE => 3,
        0xF => 4,
        _ => 1,
    };

    private static bool IsTrail(byte b) => (b & 0xC0) == 0x80;

    private static bool IsValidCodepoint(int cp) => cp < 0xD800 || (cp >= 0xE000 && cp <= 0x10FFFF);
}
