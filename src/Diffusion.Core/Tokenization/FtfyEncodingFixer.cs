using System.Text;
using System.Text.RegularExpressions;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// ftfy 6.3's <c>fix_encoding</c> with its default configuration: repairs mojibake, text that was encoded as UTF-8
/// and decoded in a one-byte encoding ("cafÃ©" → "café", "doesnâ€™t" → "doesn’t"), as CLIP's tokenizer does through
/// <c>fix_text</c>. A port of <c>ftfy/__init__.py</c> (<c>fix_encoding_and_explain</c>,
/// <c>_fix_encoding_one_step_and_explain</c>), <c>fixes.py</c> (<c>restore_byte_a0</c>, <c>replace_lossy_sequences</c>,
/// <c>decode_inconsistent_utf8</c>, <c>fix_c1_controls</c>) and the <c>utf-8-variants</c> codec; the heuristics' data
/// (the badness and UTF-8 detector patterns, the one-byte encodings' tables) is generated from ftfy itself
/// (<see cref="FtfyEncodingTables"/>).
/// </summary>
/// <remarks>
/// Python's <c>re</c> and .NET's <see cref="Regex"/> agree on these patterns except in how <c>\w</c> and <c>\s</c>
/// classify a few rare characters. Each step is bounded: the loop stops when a step changes nothing, and every change
/// shortens the text or leaves its length (UTF-8 bytes decode to at most as many characters as there are bytes).
/// </remarks>
internal static class FtfyEncodingFixer
{
    private static readonly Regex s_badness = new(FtfyEncodingTables.BadnessPattern, RegexOptions.IgnorePatternWhitespace | RegexOptions.CultureInvariant);
    private static readonly Regex s_utf8Detector = new(FtfyEncodingTables.Utf8DetectorPattern, RegexOptions.IgnorePatternWhitespace | RegexOptions.CultureInvariant);

    // Byte patterns, matched over the bytes as Latin-1 characters (one character per byte).
    private static readonly Regex s_alteredUtf8 = new(
        "[\u00c2\u00c3\u00c5\u00ce\u00d0\u00d9][ ]"
        + "|[\u00e2\u00e3][ ][\u0080-\u0084\u0086-\u009f\u00a1-\u00bf]"
        + "|[\u00e0-\u00e3][\u0080-\u0084\u0086-\u009f\u00a1-\u00bf][ ]"
        + "|[\u00f0][ ][\u0080-\u00bf][\u0080-\u00bf]"
        + "|[\u00f0][\u0080-\u00bf][ ][\u0080-\u00bf]"
        + "|[\u00f0][\u0080-\u00bf][\u0080-\u00bf][ ]", RegexOptions.CultureInvariant);

    private static readonly Regex s_lossyUtf8 = new(
        "[\u00c2-\u00df][\u001a]"
        + "|[\u00c2-\u00c3][?]"
        + "|\u00ed[\u00a0-\u00af][\u001a?]\u00ed[\u00b0-\u00bf][\u001a?\u0080-\u00bf]"
        + "|\u00ed[\u00a0-\u00af][\u001a?\u0080-\u00bf]\u00ed[\u00b0-\u00bf][\u001a?]"
        + "|[\u00e0-\u00ef][\u001a?][\u001a\u0080-\u00bf]"
        + "|[\u00e0-\u00ef][\u001a\u0080-\u00bf][\u001a?]"
        + "|[\u00f0-\u00f4][\u001a?][\u001a\u0080-\u00bf][\u001a\u0080-\u00bf]"
        + "|[\u00f0-\u00f4][\u001a\u0080-\u00bf][\u001a?][\u001a\u0080-\u00bf]"
        + "|[\u00f0-\u00f4][\u001a\u0080-\u00bf][\u001a\u0080-\u00bf][\u001a?]"
        + "|\u001a", RegexOptions.CultureInvariant);

    private static readonly Regex s_aGraveWord = new("\u00c3 (?! |quele|quela|quilo|s )", RegexOptions.CultureInvariant);

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly Charmap[] s_charmaps = BuildCharmaps();

    /// <summary>ftfy's <c>is_bad</c>: does the text hold a character sequence that is probably mojibake?</summary>
    public static bool IsBad(string text) => s_badness.IsMatch(text);

    /// <summary>Repairs <paramref name="text"/> as <c>ftfy.fix_encoding(text)</c> does, step by step until nothing changes.</summary>
    public static string FixEncoding(string text)
    {
        while (true)
        {
            string previous = text;
            text = FixOneStep(text);
            if (string.Equals(text, previous, StringComparison.Ordinal))
                return text;
        }
    }

    // _fix_encoding_one_step_and_explain.
    private static string FixOneStep(string text)
    {
        if (text.Length == 0 || IsAscii(text) || !IsBad(text))
            return text;

        bool latin1Possible = false;
        foreach (Charmap charmap in s_charmaps)
        {
            if (!charmap.CanEncode(text))
                continue;
            latin1Possible |= charmap.Name == "latin-1";
            byte[] bytes = charmap.Encode(text);
            if (charmap.Name != "macroman" && s_alteredUtf8.IsMatch(Latin1(bytes)))
                bytes = RestoreByteA0(bytes);
            if (charmap.Name.StartsWith("sloppy", StringComparison.Ordinal))
                bytes = ReplaceLossySequences(bytes);
            if (TryDecode(bytes, out string fixedText))
                return fixedText;
        }

        if (s_utf8Detector.IsMatch(text))
        {
            string fixedText = DecodeInconsistentUtf8(text);
            if (!string.Equals(fixedText, text, StringComparison.Ordinal))
                return fixedText;
        }

        // ftfy first returns the text unchanged when "windows-1252" could encode it, a name CHARMAP_ENCODINGS never
        // holds (it has sloppy-windows-1252), so that check never fires and is left out.
        if (latin1Possible)
        {
            // text.encode("latin-1").decode("windows-1252"): strict cp1252 has five undefined bytes.
            if (TryLatin1ToWindows1252(text, out string fixedText) && !string.Equals(fixedText, text, StringComparison.Ordinal))
                return fixedText;
        }

        return HasC1Control(text) ? FixC1Controls(text) : text;
    }

    // decode("utf-8") or, with a 0xED or 0xC0 byte, decode("utf-8-variants").
    private static bool TryDecode(byte[] bytes, out string text)
    {
        bool variants = Array.IndexOf(bytes, (byte)0xED) >= 0 || Array.IndexOf(bytes, (byte)0xC0) >= 0;
        return variants ? TryDecodeUtf8Variants(bytes, out text) : TryDecodeStrict(bytes, out text);
    }

    private static bool TryDecodeStrict(ReadOnlySpan<byte> bytes, out string text)
    {
        try
        {
            text = s_strictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = string.Empty;
            return false;
        }
    }

    /// <summary>
    /// ftfy's <c>utf-8-variants</c> codec: strict UTF-8 plus Java's <c>C0 80</c> for U+0000 and CESU-8 surrogate pairs
    /// (<c>ED A0-AF xx ED B0-BF xx</c>) for supplementary characters; a lone encoded surrogate stays an error.
    /// </summary>
    private static bool TryDecodeUtf8Variants(byte[] bytes, out string text)
    {
        var output = new StringBuilder(bytes.Length);
        int segmentStart = 0, i = 0;
        while (i < bytes.Length)
        {
            int special = 0;
            string? decoded = null;
            if (bytes[i] == 0xC0 && i + 1 < bytes.Length && bytes[i + 1] == 0x80)
            {
                special = 2;
                decoded = "\0";
            }
            else if (bytes[i] == 0xED && i + 5 < bytes.Length
                && bytes[i + 1] is >= 0xA0 and <= 0xAF && bytes[i + 2] is >= 0x80 and <= 0xBF
                && bytes[i + 3] == 0xED && bytes[i + 4] is >= 0xB0 and <= 0xBF && bytes[i + 5] is >= 0x80 and <= 0xBF)
            {
                special = 6;
                int codePoint = ((bytes[i + 1] & 0x0F) << 16) + ((bytes[i + 2] & 0x3F) << 10)
                    + ((bytes[i + 4] & 0x0F) << 6) + (bytes[i + 5] & 0x3F) + 0x10000;
                decoded = char.ConvertFromUtf32(codePoint);
            }
            if (special == 0)
            {
                i++;
                continue;
            }
            if (!TryDecodeStrict(bytes.AsSpan(segmentStart, i - segmentStart), out string before))
            {
                text = string.Empty;
                return false;
            }
            output.Append(before).Append(decoded);
            i += special;
            segmentStart = i;
        }
        if (!TryDecodeStrict(bytes.AsSpan(segmentStart), out string rest))
        {
            text = string.Empty;
            return false;
        }
        text = output.Append(rest).ToString();
        return true;
    }

    // fixes.restore_byte_a0: "Ã " that was "à" (an A0 byte turned into a space), then A0 bytes inside UTF-8 sequences
    // that became spaces.
    private static byte[] RestoreByteA0(byte[] bytes)
    {
        string latin1 = s_aGraveWord.Replace(Latin1(bytes), "\u00c3\u00a0 ");
        latin1 = s_alteredUtf8.Replace(latin1, match => match.Value.Replace(' ', '\u00a0'));
        return FromLatin1(latin1);
    }

    // fixes.replace_lossy_sequences: UTF-8 sequences with a byte lost to '?' or 0x1A become U+FFFD's UTF-8 bytes.
    private static byte[] ReplaceLossySequences(byte[] bytes)
        => FromLatin1(s_lossyUtf8.Replace(Latin1(bytes), "\u00ef\u00bf\u00bd"));

    // fixes.decode_inconsistent_utf8: fix runs that look like UTF-8 mojibake inside text that is not all mojibake.
    private static string DecodeInconsistentUtf8(string text)
        => s_utf8Detector.Replace(text, match => match.Length < text.Length && IsBad(match.Value) ? FixEncoding(match.Value) : match.Value);

    private static bool TryLatin1ToWindows1252(string text, out string result)
    {
        var output = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (c > '\u00ff')
            {
                result = string.Empty;
                return false;
            }
            if (c is >= '\u0080' and <= '\u009f')
            {
                // Python's strict cp1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined: a decode error.
                if (c is '\u0081' or '\u008d' or '\u008f' or '\u0090' or '\u009d')
                {
                    result = string.Empty;
                    return false;
                }
                output.Append(Windows1252.C1ToWindows1252(c));
            }
            else
            {
                output.Append(c);
            }
        }
        result = output.ToString();
        return true;
    }

    // fixes.fix_c1_controls: C1 control characters read as the Windows-1252 characters of the same byte.
    private static string FixC1Controls(string text)
    {
        var output = new StringBuilder(text.Length);
        foreach (char c in text)
            output.Append(c is >= '\u0080' and <= '\u009f' ? Windows1252.C1ToWindows1252(c) : c);
        return output.ToString();
    }

    private static bool HasC1Control(string text)
    {
        foreach (char c in text)
        {
            if (c is >= '\u0080' and <= '\u009f')
                return true;
        }
        return false;
    }

    private static bool IsAscii(string text)
    {
        foreach (char c in text)
        {
            if (c > '\u007f')
                return false;
        }
        return true;
    }

    private static string Latin1(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    private static byte[] FromLatin1(string text) => Encoding.Latin1.GetBytes(text);

    private static Charmap[] BuildCharmaps()
    {
        var charmaps = new Charmap[FtfyEncodingTables.CharmapEncodings.Length];
        for (int i = 0; i < charmaps.Length; i++)
            charmaps[i] = new Charmap(FtfyEncodingTables.CharmapEncodings[i], FtfyEncodingTables.CharmapTables[i]);
        return charmaps;
    }

    /// <summary>A one-byte encoding: its 256 characters and the way back to bytes.</summary>
    private sealed class Charmap
    {
        private readonly Dictionary<char, byte> _bytes = new();

        public Charmap(string name, string table)
        {
            Name = name;
            for (int b = 0; b < 256; b++)
                _bytes[table[b]] = (byte)b;
            // chardata.possible_encoding: ASCII without 0x1A, plus what bytes 0x80-0xFF and 0x1A decode to.
            Allowed = new HashSet<char>();
            for (int c = 0; c < 0x80; c++)
            {
                if (c != 0x1A)
                    Allowed.Add((char)c);
            }
            for (int b = 0x80; b < 0x100; b++)
                Allowed.Add(table[b]);
            Allowed.Add(table[0x1A]);
        }

        public string Name { get; }

        private HashSet<char> Allowed { get; }

        public bool CanEncode(string text)
        {
            foreach (char c in text)
            {
                if (!Allowed.Contains(c))
                    return false;
            }
            return true;
        }

        public byte[] Encode(string text)
        {
            byte[] bytes = new byte[text.Length];
            for (int i = 0; i < text.Length; i++)
                bytes[i] = _bytes[text[i]];
            return bytes;
        }
    }
}
