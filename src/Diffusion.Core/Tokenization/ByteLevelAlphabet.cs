namespace Diffusion.Core.Tokenization;

/// <summary>
/// GPT-2/CLIP's reversible byte-to-character map (<c>bytes_to_unicode</c>): the printable bytes '!'–'~',
/// '¡'–'¬' and '®'–'ÿ' stand for themselves; the other 68 bytes, in byte order, take U+0100, U+0101, ….
/// BPE symbols are strings of these characters.
/// </summary>
internal static class ByteLevelAlphabet
{
    // Every character of the alphabet is below U+0144 (U+0100 + 68).
    private const int CharCount = 0x144;

    private static readonly char[] s_byteToChar = BuildByteToChar();

    private static readonly short[] s_charToByte = BuildCharToByte();

    /// <summary>The character that stands for <paramref name="value"/>.</summary>
    public static char ToChar(byte value) => s_byteToChar[value];

    /// <summary>The byte <paramref name="c"/> stands for, or -1 when it stands for none.</summary>
    public static int ToByte(char c) => c < CharCount ? s_charToByte[c] : -1;

    private static bool IsPrintable(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 0x100;
        for (int b = 0; b < 256; b++)
            map[b] = IsPrintable(b) ? (char)b : (char)next++;
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[CharCount];
        Array.Fill(map, (short)-1);
        char[] byteToChar = BuildByteToChar();
        for (int b = 0; b < 256; b++)
            map[byteToChar[b]] = (short)b;
        return map;
    }
}
