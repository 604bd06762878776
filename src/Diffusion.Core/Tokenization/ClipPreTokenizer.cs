using System.Globalization;
using System.Text;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// Splits cleaned text into the words CLIP runs BPE on, as <c>re.findall</c> with CLIP's pattern does
/// (<c>regex</c> module, IGNORECASE):
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>.
/// </summary>
/// <remarks>
/// Written by hand rather than with .NET's <see cref="System.Text.RegularExpressions.Regex"/>, which classifies
/// UTF-16 code units: a letter outside the BMP (𝐀, 𠀀) is two surrogates there, not a letter as in Python.
/// </remarks>
internal static class ClipPreTokenizer
{
    /// <summary>The literal start token the pattern keeps whole.</summary>
    public const string StartOfText = "<|startoftext|>";

    /// <summary>The literal end token the pattern keeps whole.</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>
    /// Finds the next word at or after <paramref name="position"/>, skipping whitespace. Returns false at the end
    /// of <paramref name="text"/>; otherwise the word is <c>text[start..(start + length)]</c> and
    /// <paramref name="position"/> moves past it.
    /// </summary>
    public static bool NextWord(ReadOnlySpan<char> text, ref int position, out int start, out int length)
    {
        while (position < text.Length)
        {
            int i = position;
            int matched = MatchAt(text, i);
            if (matched > 0)
            {
                start = i;
                length = matched;
                position = i + matched;
                return true;
            }
            // Only whitespace matches nothing: step over one code point.
            position += char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
        }
        start = position;
        length = 0;
        return false;
    }

    // Length of the pattern's match at i (alternatives in order, as a backtracking regex tries them), or 0.
    private static int MatchAt(ReadOnlySpan<char> text, int i)
    {
        var rest = text[i..];
        if (rest[0] == '<')
        {
            if (StartsWithIgnoreCase(rest, StartOfText))
                return StartOfText.Length;
            if (StartsWithIgnoreCase(rest, EndOfText))
                return EndOfText.Length;
        }
        if (rest[0] == '\'' && rest.Length > 1)
        {
            if (FoldsTo(rest[1], 's') || FoldsTo(rest[1], 't'))
                return 2;
            if (rest.Length > 2 && (FoldsTo(rest[1], 'r') || FoldsTo(rest[1], 'v')) && FoldsTo(rest[2], 'e'))
                return 3;
            if (FoldsTo(rest[1], 'm'))
                return 2;
            if (rest.Length > 2 && FoldsTo(rest[1], 'l') && FoldsTo(rest[2], 'l'))
                return 3;
            if (FoldsTo(rest[1], 'd'))
                return 2;
        }

        var kind = Classify(rest, out int first);
        switch (kind)
        {
            case CharKind.Letter:
            {
                int end = first;
                while (end < rest.Length && Classify(rest[end..], out int next) == CharKind.Letter)
                    end += next;
                return end;
            }
            case CharKind.Number:
                return first;
            case CharKind.Other:
            {
                int end = first;
                while (end < rest.Length && Classify(rest[end..], out int next) == CharKind.Other)
                    end += next;
                return end;
            }
            default:
                return 0;
        }
    }

    /// <summary>The pattern's character classes: \s (and what no class matches), \p{L}, \p{N}, everything else.</summary>
    internal enum CharKind
    {
        /// <summary>Whitespace, or a character no part of the pattern matches: it separates words and is dropped.</summary>
        Space,

        /// <summary>\p{L}: runs of these form a word.</summary>
        Letter,

        /// <summary>\p{N}: each one is a word of its own.</summary>
        Number,

        /// <summary>Anything else: runs of these form a word.</summary>
        Other,
    }

    /// <summary>What the first code point of <paramref name="text"/> is to CLIP's pattern; <paramref name="length"/> is its UTF-16 length.</summary>
    internal static CharKind Classify(ReadOnlySpan<char> text, out int length)
    {
        char first = text[0];
        if (first < 0x80)
        {
            length = 1;
            return char.IsAsciiLetter(first) ? CharKind.Letter
                : char.IsAsciiDigit(first) ? CharKind.Number
                : first is ' ' or >= '\t' and <= '\r' ? CharKind.Space
                : CharKind.Other;
        }
        if (Rune.DecodeFromUtf16(text, out Rune rune, out length) != System.Buffers.OperationStatus.Done)
            return CharKind.Other; // a lone surrogate (ftfy replaces those before this runs)
        if (ClipTextCleaner.IsRegexWhiteSpace(rune.Value))
            return CharKind.Space;
        // U+0345 COMBINING GREEK YPOGEGRAMMENI (a mark) case-folds to the letter ι. Under IGNORECASE the regex
        // module then finds it neither in [\p{L}] nor in [^\s\p{L}\p{N}], so no word contains it: it is skipped
        // like whitespace. (Checked over every code point: it is the only character IGNORECASE moves.)
        if (rune.Value == 0x0345)
            return CharKind.Space;
        switch (Rune.GetUnicodeCategory(rune))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return CharKind.Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return CharKind.Number;
            default:
                return CharKind.Other;
        }
    }

    // IGNORECASE in the regex module uses simple case folding: besides the upper-case letter, 'ſ' (U+017F) folds
    // to 's'. (Text arrives lower-cased, so in practice only 'ſ' makes a difference.)
    private static bool FoldsTo(char c, char lowerAscii) =>
        c == lowerAscii || c == char.ToUpperInvariant(lowerAscii) || (lowerAscii == 's' && c == '\u017F');

    private static bool StartsWithIgnoreCase(ReadOnlySpan<char> text, string literal)
    {
        if (text.Length < literal.Length)
            return false;
        for (int k = 0; k < literal.Length; k++)
        {
            char expected = literal[k];
            if (char.IsAsciiLetterLower(expected) ? !FoldsTo(text[k], expected) : text[k] != expected)
                return false;
        }
        return true;
    }
}
