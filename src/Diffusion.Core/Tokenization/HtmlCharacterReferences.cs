using System.Globalization;
using System.Text;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// The two HTML character-reference decoders CLIP's text cleanup runs: Python's <c>html.unescape</c> (HTML5
/// rules: every named reference, names without ';' by longest prefix, numeric references with the HTML5
/// replacements for invalid code points) and ftfy's stricter <c>unescape_html</c> (only <c>&amp;name;</c>
/// forms, plus upper-cased names such as <c>&amp;EACUTE;</c>).
/// </summary>
internal static class HtmlCharacterReferences
{
    // Longest run Python's html.unescape captures after '&' for a name (its regex says {1,32}).
    private const int MaxNameLength = 32;

    // ftfy's HTML_ENTITY_RE is "&#?[0-9A-Za-z]{1,24};".
    private const int MaxFtfyEntityLength = 24;

    private static readonly Lazy<Dictionary<string, string>> s_html5 = new(() => ParseTable(HtmlEntityTable.Html5));

    private static readonly Lazy<Dictionary<string, string>> s_ftfyUpper = new(() => ParseTable(HtmlEntityTable.FtfyUpperCase));

    /// <summary>Python's <c>html.unescape</c> (Python 3.11, html/__init__.py).</summary>
    public static string PythonUnescape(string text)
    {
        int amp = text.IndexOf('&');
        if (amp < 0)
            return text;
        var html5 = s_html5.Value;
        var output = new StringBuilder(text.Length);
        int copied = 0;
        int i = amp;
        while (i >= 0 && i < text.Length)
        {
            int end = TryReplaceReference(text, i, html5, out string? replacement);
            if (end > i)
            {
                output.Append(text, copied, i - copied).Append(replacement);
                copied = end;
                i = text.IndexOf('&', end);
            }
            else
            {
                i = text.IndexOf('&', i + 1);
            }
        }
        output.Append(text, copied, text.Length - copied);
        return output.ToString();
    }

    /// <summary>ftfy's <c>fixes.unescape_html</c>: decodes <c>&amp;name;</c> and <c>&amp;#…;</c> only.</summary>
    public static string FtfyUnescape(string text)
    {
        int amp = text.IndexOf('&');
        if (amp < 0)
            return text;
        var html5 = s_html5.Value;
        var upper = s_ftfyUpper.Value;
        StringBuilder? output = null;
        int copied = 0;
        for (int i = amp; i >= 0 && i < text.Length; i = text.IndexOf('&', i + 1))
        {
            // Match "&#?[0-9A-Za-z]{1,24};" at i.
            int start = i + 1;
            if (start < text.Length && text[start] == '#')
                start++;
            int j = start;
            while (j < text.Length && char.IsAsciiLetterOrDigit(text[j]))
                j++;
            int runLength = j - start;
            if (runLength == 0 || runLength > MaxFtfyEntityLength || j >= text.Length || text[j] != ';')
                continue;
            int end = j + 1;
            string entity = text.Substring(i, end - i);
            string? replacement = null;
            string name = entity.Substring(1);
            if (!name.StartsWith('#'))
            {
                // ftfy's table: every HTML5 name that ends in ';', plus the upper-cased ones.
                if (html5.TryGetValue(name, out string? value) || upper.TryGetValue(name, out value))
                    replacement = value;
            }
            else
            {
                string decoded = PythonUnescape(entity);
                // ftfy keeps the original when html.unescape decoded only part of it (the ';' survived).
                if (!decoded.Contains(';'))
                    replacement = decoded;
            }
            if (replacement is null)
                continue;
            output ??= new StringBuilder(text.Length);
            output.Append(text, copied, i - copied).Append(replacement);
            copied = end;
            i = end - 1;
        }
        if (output is null)
            return text;
        output.Append(text, copied, text.Length - copied);
        return output.ToString();
    }

    // Tries Python's _charref regex "&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)" at index amp.
    // Returns the end of the match (amp when there is none) and the text that replaces it.
    private static int TryReplaceReference(string text, int amp, Dictionary<string, string> html5, out string? replacement)
    {
        replacement = null;
        int i = amp + 1;
        if (i >= text.Length)
            return amp;
        if (text[i] == '#')
        {
            bool hex = i + 1 < text.Length && (text[i + 1] == 'x' || text[i + 1] == 'X');
            int digitsStart = hex ? i + 2 : i + 1;
            int j = digitsStart;
            long number = 0;
            while (j < text.Length && (hex ? char.IsAsciiHexDigit(text[j]) : char.IsAsciiDigit(text[j])))
            {
                // Saturate: anything above U+10FFFF decodes the same way.
                if (number <= 0x10FFFF)
                    number = number * (hex ? 16 : 10) + HexDigitValue(text[j]);
                j++;
            }
            if (j == digitsStart)
                return amp; // "&#" or "&#x" without digits is left alone.
            if (j < text.Length && text[j] == ';')
                j++;
            replacement = NumericReference(number);
            return j;
        }

        // Named reference: up to 32 code points that are not \t \n \f space < & # ;
        int end = i;
        int codePoints = 0;
        while (end < text.Length && codePoints < MaxNameLength)
        {
            char c = text[end];
            if (c is '\t' or '\n' or '\f' or ' ' or '<' or '&' or '#' or ';')
                break;
            end += char.IsHighSurrogate(c) && end + 1 < text.Length && char.IsLowSurrogate(text[end + 1]) ? 2 : 1;
            codePoints++;
        }
        if (end == i)
            return amp;
        if (end < text.Length && text[end] == ';')
            end++;
        string name = text.Substring(i, end - i);
        if (html5.TryGetValue(name, out string? value))
        {
            replacement = value;
            return end;
        }
        // The longest prefix (at least two characters) that is a name; the rest stays as it was.
        for (int length = name.Length - 1; length > 1; length--)
        {
            if (html5.TryGetValue(name.Substring(0, length), out value))
            {
                replacement = string.Concat(value, name.AsSpan(length));
                return end;
            }
        }
        replacement = "&" + name;
        return end;
    }

    // Python html._replace_charref for numbers: HTML5's table for 0x00, 0x0D and 0x80-0x9F, U+FFFD for
    // surrogates and out-of-range values, nothing for the other invalid code points.
    private static string NumericReference(long value)
    {
        if (value == 0x00)
            return "\uFFFD";
        if (value == 0x0D)
            return "\r";
        if (value is >= 0x80 and <= 0x9F)
            return Windows1252.C1ToWindows1252((char)value).ToString();
        if (value is >= 0xD800 and <= 0xDFFF || value > 0x10FFFF)
            return "\uFFFD";
        if (value is >= 0x01 and <= 0x08 or 0x0B or >= 0x0E and <= 0x1F or 0x7F or >= 0xFDD0 and <= 0xFDEF
            || (value & 0xFFFE) == 0xFFFE)
            return string.Empty;
        return char.ConvertFromUtf32((int)value);
    }

    private static int HexDigitValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static Dictionary<string, string> ParseTable(string table)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var value = new StringBuilder();
        foreach (var rawLine in table.AsSpan().EnumerateLines())
        {
            var line = rawLine.Trim();
            if (line.IsEmpty)
                continue;
            int space = line.IndexOf(' ');
            string name = line[..space].ToString();
            value.Clear();
            var codePoints = line[(space + 1)..];
            while (!codePoints.IsEmpty)
            {
                int next = codePoints.IndexOf(' ');
                var hex = next < 0 ? codePoints : codePoints[..next];
                value.Append(char.ConvertFromUtf32(int.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
                codePoints = next < 0 ? ReadOnlySpan<char>.Empty : codePoints[(next + 1)..];
            }
            result[name] = value.ToString();
        }
        return result;
    }
}
