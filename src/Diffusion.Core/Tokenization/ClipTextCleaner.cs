using System.Globalization;
using System.Text;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// The text cleanup of OpenAI CLIP's <c>SimpleTokenizer.encode</c>:
/// <c>whitespace_clean(basic_clean(text)).lower()</c>, that is ftfy's <c>fix_text</c>, <c>html.unescape</c>
/// twice, strip, every whitespace run to one space, strip, Python's <c>str.lower</c>; or Hugging Face
/// <c>CLIPTokenizer</c>'s <c>whitespace_clean(fix_text(text)).lower()</c>, the same without <c>html.unescape</c>.
/// </summary>
internal static class ClipTextCleaner
{
    /// <summary>
    /// Cleans plain ASCII text (printable characters, tabs and line feeds, no '&amp;') into
    /// <paramref name="destination"/> without allocating: for such text ftfy and the HTML decoding change
    /// nothing, so cleaning is strip, whitespace folding and ASCII lower-casing. Returns false, writing nothing,
    /// for any other text (use <see cref="Clean"/>). <paramref name="destination"/> needs <c>text.Length</c> characters.
    /// </summary>
    public static bool TryCleanPlainAscii(string text, Span<char> destination, out int length)
    {
        length = 0;
        foreach (char c in text)
        {
            if (c is (< ' ' and not '\t' and not '\n') or > '~' or '&')
                return false;
        }
        bool pendingSpace = false;
        foreach (char c in text)
        {
            if (c is ' ' or '\t' or '\n')
            {
                pendingSpace = length > 0;
                continue;
            }
            if (pendingSpace)
                destination[length++] = ' ';
            pendingSpace = false;
            destination[length++] = char.ToLowerInvariant(c);
        }
        return true;
    }

    /// <summary>Cleans <paramref name="text"/> as <paramref name="cleanup"/>'s reference does before splitting it into words.</summary>
    public static string Clean(string text, ClipTextCleanup cleanup = ClipTextCleanup.OpenAIClip)
    {
        string fixedText = FtfyTextFixer.FixText(text);
        if (cleanup == ClipTextCleanup.OpenAIClip)
            fixedText = HtmlCharacterReferences.PythonUnescape(HtmlCharacterReferences.PythonUnescape(fixedText));
        return PythonLower(FoldWhitespace(fixedText));
    }

    /// <summary>
    /// True for the characters the <c>regex</c> module's <c>\s</c> matches (Unicode White_Space), the
    /// whitespace of CLIP's word-splitting pattern and of <c>whitespace_clean</c>.
    /// </summary>
    public static bool IsRegexWhiteSpace(int codePoint) => codePoint switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    // Python's str.isspace (what str.strip removes): White_Space plus the separators U+1C–U+1F.
    private static bool IsPythonSpace(char c) => IsRegexWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    // OpenAI: text.strip(), then re.sub(r"\s+", " ", text).strip(). Hugging Face skips the first strip, which
    // changes nothing: the folding and the second strip remove the same characters.
    private static string FoldWhitespace(string text)
    {
        int start = 0;
        int end = text.Length;
        while (start < end && IsPythonSpace(text[start]))
            start++;
        while (end > start && IsPythonSpace(text[end - 1]))
            end--;
        var output = new StringBuilder(end - start);
        bool inWhitespace = false;
        for (int i = start; i < end; i++)
        {
            char c = text[i];
            if (IsRegexWhiteSpace(c))
            {
                if (!inWhitespace)
                    output.Append(' ');
                inWhitespace = true;
            }
            else
            {
                output.Append(c);
                inWhitespace = false;
            }
        }
        // The second strip can only meet a U+1C–U+1F that the first strip uncovered; ftfy removes those anyway.
        int trimmedEnd = output.Length;
        while (trimmedEnd > 0 && IsPythonSpace(output[trimmedEnd - 1]))
            trimmedEnd--;
        int trimmedStart = 0;
        while (trimmedStart < trimmedEnd && IsPythonSpace(output[trimmedStart]))
            trimmedStart++;
        return output.ToString(trimmedStart, trimmedEnd - trimmedStart);
    }

    /// <summary>
    /// Python's <c>str.lower</c>: the Unicode lower-case mapping of each code point, with the two rules Python
    /// applies beyond the simple mapping: 'İ' (U+0130) becomes "i̇" (i + U+0307), and 'Σ' becomes final 'ς'
    /// at the end of a word (Unicode's Final_Sigma condition).
    /// </summary>
    public static string PythonLower(string text)
    {
        var output = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(i), out Rune rune, out int length);
            if (rune.Value == 0x0130)
                output.Append("i\u0307");
            else if (rune.Value == 0x03A3)
                output.Append(IsFinalSigma(text, i) ? '\u03C2' : '\u03C3');
            else
                AppendRune(output, Rune.ToLowerInvariant(rune));
            i += length;
        }
        return output.ToString();
    }

    private static void AppendRune(StringBuilder output, Rune rune)
    {
        if (rune.IsBmp)
        {
            output.Append((char)rune.Value);
        }
        else
        {
            Span<char> pair = stackalloc char[2];
            rune.EncodeToUtf16(pair);
            output.Append(pair);
        }
    }

    // Final_Sigma: a cased letter (skipping case-ignorables) before, and none (skipping case-ignorables) after.
    private static bool IsFinalSigma(string text, int index)
    {
        int i = index;
        bool casedBefore = false;
        while (i > 0)
        {
            Rune.DecodeLastFromUtf16(text.AsSpan(0, i), out Rune rune, out int length);
            i -= length;
            if (!IsCaseIgnorable(rune))
            {
                casedBefore = IsCased(rune);
                break;
            }
        }
        if (!casedBefore)
            return false;
        for (int j = index + 1; j < text.Length;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(j), out Rune rune, out int length);
            j += length;
            if (!IsCaseIgnorable(rune))
                return !IsCased(rune);
        }
        return true;
    }

    // Unicode "Cased": upper, lower and title-case letters, plus the few other characters that have a case mapping.
    private static bool IsCased(Rune rune)
    {
        var category = Rune.GetUnicodeCategory(rune);
        return category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            || Rune.ToLowerInvariant(rune) != rune || Rune.ToUpperInvariant(rune) != rune;
    }

    // Unicode "Case_Ignorable": marks, format characters, modifier letters and symbols, and the word-internal
    // punctuation of Word_Break MidLetter / MidNumLet / Single_Quote.
    private static bool IsCaseIgnorable(Rune rune)
    {
        var category = Rune.GetUnicodeCategory(rune);
        if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol)
            return true;
        return rune.Value is '\'' or '.' or ':' or 0x00B7 or 0x0387 or 0x055F or 0x05F4 or 0x2018 or 0x2019
            or 0x2024 or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
    }
}
