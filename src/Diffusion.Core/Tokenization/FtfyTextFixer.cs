using System.Text;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// ftfy's <c>fix_text</c> with its default configuration (ftfy 6.3), which CLIP's tokenizer runs on every prompt:
/// text is fixed line by line, and each line goes through <c>unescape_html</c>, <c>fix_encoding</c> (the mojibake
/// repair, <see cref="FtfyEncodingFixer"/>), <c>fix_c1_controls</c>, <c>fix_latin_ligatures</c>, <c>fix_character_width</c>,
/// <c>uncurl_quotes</c>, <c>fix_line_breaks</c>, <c>fix_surrogates</c>, <c>remove_terminal_escapes</c>,
/// <c>remove_control_chars</c> and NFC normalization, repeated until nothing changes.
/// </summary>
/// <remarks>
/// As in ftfy, HTML references are left alone from the first line that contains a literal '&lt;' on (ftfy takes
/// that as a sign of real HTML). ftfy's 1,000,000-character segment limit is not reproduced: prompts are short.
/// </remarks>
internal static class FtfyTextFixer
{
    /// <summary>Fixes <paramref name="text"/> as <c>ftfy.fix_text(text)</c> does.</summary>
    public static string FixText(string text)
    {
        if (!NeedsFixing(text))
            return text;
        var output = new StringBuilder(text.Length);
        bool unescapeHtml = true;
        int position = 0;
        while (position < text.Length)
        {
            int lineBreak = text.IndexOf('\n', position);
            int end = lineBreak < 0 ? text.Length : lineBreak + 1;
            string segment = text.Substring(position, end - position);
            // ftfy switches entity decoding off for this and every later segment once it sees '<'.
            if (unescapeHtml && segment.Contains('<'))
                unescapeHtml = false;
            output.Append(FixSegment(segment, unescapeHtml));
            position = end;
        }
        return output.ToString();
    }

    private static string FixSegment(string text, bool unescapeHtml)
    {
        while (true)
        {
            string original = text;
            if (unescapeHtml)
                text = HtmlCharacterReferences.FtfyUnescape(text);
            text = FtfyEncodingFixer.FixEncoding(text);
            text = FixCharacters(text);
            text = RemoveTerminalEscapes(text);
            text = RemoveControlCharacters(text);
            text = NormalizeNfc(text);
            if (string.Equals(text, original, StringComparison.Ordinal))
                return text;
        }
    }

    /// <summary>
    /// <c>unicodedata.normalize("NFC", text)</c>. .NET's Normalize refuses the noncharacter U+FFFE (Python keeps it);
    /// U+FFFE is a starter without decomposition, so normalizing the pieces between them is the same as the whole.
    /// </summary>
    private static string NormalizeNfc(string text)
    {
        if (!text.Contains('\uFFFE', StringComparison.Ordinal))
            return text.Normalize(NormalizationForm.FormC);
        string[] pieces = text.Split('\uFFFE');
        for (int i = 0; i < pieces.Length; i++)
            pieces[i] = pieces[i].Normalize(NormalizationForm.FormC);
        return string.Join('\uFFFE', pieces);
    }

    // fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks and
    // fix_surrogates in one pass. Where one of them makes a character another changes (C1 U+0092 becomes '’',
    // which uncurl_quotes straightens; 'ŉ' becomes "ʼn"), ftfy changes it later in the same round and this pass
    // in the next round of FixSegment's loop: both stop at the same text. Order still matters for C1 NEXT LINE
    // (U+0085), which becomes '…' before fix_line_breaks could make it '\n'.
    private static string FixCharacters(string text)
    {
        StringBuilder? output = null;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            string? replacement = null;
            if (c is >= '\u0080' and <= '\u009F')
            {
                replacement = Windows1252.C1ToWindows1252(c).ToString();
            }
            else if (Ligature(c) is { } ligature)
            {
                replacement = ligature;
            }
            else if (c == '\u3000')
            {
                replacement = " ";
            }
            else if (c is >= '\uFF01' and < '\uFFF0')
            {
                // fix_character_width: full- and half-width forms to their NFKC (standard-width) form.
                string standard = c.ToString().Normalize(NormalizationForm.FormKC);
                if (standard.Length != 1 || standard[0] != c)
                    replacement = standard;
            }
            else if (c is '\u02BC' or >= '\u2018' and <= '\u201B')
            {
                replacement = "'";
            }
            else if (c is >= '\u201C' and <= '\u201F')
            {
                replacement = "\"";
            }
            else if (c == '\r')
            {
                // "\r\n" and a lone "\r" both become "\n".
                replacement = "\n";
                if (i + 1 < text.Length && text[i + 1] == '\n')
                {
                    output ??= new StringBuilder(text.Length).Append(text, 0, i);
                    output.Append('\n');
                    i++;
                    continue;
                }
            }
            else if (c is '\u2028' or '\u2029')
            {
                replacement = "\n";
            }
            else if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    output?.Append(c).Append(text[i + 1]);
                    i++;
                    continue;
                }
                replacement = "\uFFFD";
            }

            if (replacement is not null)
            {
                output ??= new StringBuilder(text.Length).Append(text, 0, i);
                output.Append(replacement);
            }
            else
            {
                output?.Append(c);
            }
        }
        return output?.ToString() ?? text;
    }

    // fix_latin_ligatures: Latin ligatures and legacy digraphs only (ftfy leaves æ, œ and other scripts alone).
    private static string? Ligature(char c) => c switch
    {
        '\u0132' => "IJ",
        '\u0133' => "ij",
        '\u0149' => "\u02BCn",
        '\u01F1' => "DZ",
        '\u01F2' => "Dz",
        '\u01F3' => "dz",
        '\u01C4' => "D\u017D",
        '\u01C5' => "D\u017E",
        '\u01C6' => "d\u017E",
        '\u01C7' => "LJ",
        '\u01C8' => "Lj",
        '\u01C9' => "lj",
        '\u01CA' => "NJ",
        '\u01CB' => "Nj",
        '\u01CC' => "nj",
        '\uFB00' => "ff",
        '\uFB01' => "fi",
        '\uFB02' => "fl",
        '\uFB03' => "ffi",
        '\uFB04' => "ffl",
        '\uFB05' => "\u017Ft",
        '\uFB06' => "st",
        _ => null,
    };

    // remove_terminal_escapes: ESC '[' (digits | ';')* letter, where Python's \d is any decimal digit.
    private static string RemoveTerminalEscapes(string text)
    {
        int escape = text.IndexOf('\u001B');
        if (escape < 0)
            return text;
        var output = new StringBuilder(text.Length);
        int copied = 0;
        for (int i = escape; i >= 0 && i < text.Length; i = text.IndexOf('\u001B', i + 1))
        {
            int j = i + 1;
            if (j >= text.Length || text[j] != '[')
                continue;
            j++;
            while (j < text.Length)
            {
                if (text[j] == ';')
                {
                    j++;
                }
                else if (System.Text.Rune.TryGetRuneAt(text, j, out var rune) && System.Text.Rune.IsDigit(rune))
                {
                    j += rune.Utf16SequenceLength;
                }
                else
                {
                    break;
                }
            }
            if (j >= text.Length || !char.IsAsciiLetter(text[j]))
                continue;
            output.Append(text, copied, i - copied);
            copied = j + 1;
            i = j;
        }
        output.Append(text, copied, text.Length - copied);
        return output.ToString();
    }

    // remove_control_chars: U+00–08, U+0B, U+0E–1F, U+7F, U+206A–206F, U+FEFF, U+FFF9–FFFC.
    private static bool IsRemovedControl(char c) =>
        c is <= '\u0008' or '\u000B' or >= '\u000E' and <= '\u001F' or '\u007F'
            or >= '\u206A' and <= '\u206F' or '\uFEFF' or >= '\uFFF9' and <= '\uFFFC';

    private static string RemoveControlCharacters(string text)
    {
        int first = -1;
        for (int i = 0; i < text.Length; i++)
        {
            if (IsRemovedControl(text[i]))
            {
                first = i;
                break;
            }
        }
        if (first < 0)
            return text;
        var output = new StringBuilder(text.Length).Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            if (!IsRemovedControl(text[i]))
                output.Append(text[i]);
        }
        return output.ToString();
    }

    // Plain printable ASCII without '&' comes out of every fixer unchanged (NFC leaves ASCII alone).
    private static bool NeedsFixing(string text)
    {
        foreach (char c in text)
        {
            if (c is < ' ' and not '\t' and not '\n' or > '~' or '&')
                return true;
        }
        return false;
    }
}
