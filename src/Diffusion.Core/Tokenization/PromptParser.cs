using System.Globalization;
using System.Text;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// Parses the AUTOMATIC1111 web UI's attention syntax exactly as its <c>parse_prompt_attention</c>
/// (modules/prompt_parser.py) does: <c>(text)</c> multiplies the weight of <c>text</c> by 1.1, <c>[text]</c> divides
/// it by 1.1, <c>(text:1.3)</c> multiplies it by 1.3, nested brackets multiply, <c>\(</c> <c>\)</c> <c>\[</c>
/// <c>\]</c> <c>\\</c> are literal characters, and <c>BREAK</c> as a word of its own ends a 75-token chunk.
/// </summary>
/// <remarks>
/// <para>Lenient like the web UI: a bracket never closed still applies to the rest of the prompt (<c>(a</c> is
/// <c>a</c> at 1.1), a <c>)</c> or <c>]</c> closing nothing is literal text, a backslash before any other character
/// is dropped (<c>a \ b</c> reads <c>a  b</c>), and a <c>:number)</c> closes the innermost open round bracket
/// whatever lies between (<c>[a:1.5)</c> keeps <c>[</c> open). Runs of equal weight are merged; an empty prompt
/// gives one empty piece at weight 1.</para>
/// <para>Weights are computed in double precision in the web UI's order, then returned as float32, the precision
/// the web UI hands them to torch in. Whitespace, word characters (for <c>BREAK</c>'s word boundaries) and digits
/// follow Python's Unicode definitions.</para>
/// <para>Not handled here (the web UI handles them before this step): prompt editing <c>[from:to:when]</c>,
/// alternation <c>[a|b]</c>, <c>AND</c> composition and <c>&lt;lora:…&gt;</c> tags, which stay in the text.</para>
/// </remarks>
public static class PromptParser
{
    private const double RoundBracketMultiplier = 1.1;
    private const double SquareBracketMultiplier = 1 / 1.1;

    /// <summary>Splits <paramref name="prompt"/> into pieces of text and their weights.</summary>
    /// <param name="prompt">The prompt in the web UI's syntax.</param>
    /// <returns>At least one piece; <c>BREAK</c> markers are pieces with <see cref="WeightedText.IsBreak"/> set.</returns>
    /// <exception cref="InvalidOptionException">A <c>(text:weight)</c> weight is made of digits and dots but is not a
    /// number, such as <c>1.2.3</c> (the web UI fails on it too).</exception>
    public static IReadOnlyList<WeightedText> Parse(string prompt)
    {
        List<PromptFragment> fragments = ParseFragments(prompt);
        var result = new WeightedText[fragments.Count];
        for (int i = 0; i < result.Length; i++)
            result[i] = new WeightedText(fragments[i].Text, (float)fragments[i].Weight);
        return result;
    }

    /// <summary>
    /// The parse with double-precision weights, for the tokenizer: a BREAK is recognised on the float64 weight,
    /// as in the web UI.
    /// </summary>
    internal static List<PromptFragment> ParseFragments(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var texts = new List<string>();
        var weights = new List<double>();
        var roundBrackets = new List<int>();
        var squareBrackets = new List<int>();

        int i = 0;
        while (i < prompt.Length)
        {
            char c = prompt[i];
            switch (c)
            {
                case '\\':
                    // \( \) \[ \] \\ give the character; a backslash before anything else gives nothing.
                    if (i + 1 < prompt.Length && prompt[i + 1] is '(' or ')' or '[' or ']' or '\\')
                    {
                        texts.Add(prompt.Substring(i + 1, 1));
                        i += 2;
                    }
                    else
                    {
                        texts.Add(string.Empty);
                        i++;
                    }
                    weights.Add(1.0);
                    break;
                case '(':
                    roundBrackets.Add(texts.Count);
                    i++;
                    break;
                case '[':
                    squareBrackets.Add(texts.Count);
                    i++;
                    break;
                case ':':
                    if (TryMatchWeight(prompt, i, out int end, out int numberStart, out int numberEnd))
                    {
                        if (roundBrackets.Count > 0)
                            MultiplyRange(weights, Pop(roundBrackets), ParseWeight(prompt, numberStart, numberEnd));
                        else
                            AddPlainText(prompt.Substring(i, end - i), texts, weights);
                        i = end;
                    }
                    else
                    {
                        AddPlainText(":", texts, weights);
                        i++;
                    }
                    break;
                case ')':
                    if (roundBrackets.Count > 0)
                        MultiplyRange(weights, Pop(roundBrackets), RoundBracketMultiplier);
                    else
                        AddPlainText(")", texts, weights);
                    i++;
                    break;
                case ']':
                    if (squareBrackets.Count > 0)
                        MultiplyRange(weights, Pop(squareBrackets), SquareBracketMultiplier);
                    else
                        AddPlainText("]", texts, weights);
                    i++;
                    break;
                default:
                    int start = i;
                    while (i < prompt.Length && prompt[i] is not ('\\' or '(' or ')' or '[' or ']' or ':'))
                        i++;
                    AddPlainText(prompt.Substring(start, i - start), texts, weights);
                    break;
            }
        }

        // Brackets never closed apply to the rest: round ones first, each in opening order, as the web UI does.
        foreach (int position in roundBrackets)
            MultiplyRange(weights, position, RoundBracketMultiplier);
        foreach (int position in squareBrackets)
            MultiplyRange(weights, position, SquareBracketMultiplier);

        var fragments = new List<PromptFragment>(texts.Count);
        if (texts.Count == 0)
        {
            fragments.Add(new PromptFragment(string.Empty, 1.0));
            return fragments;
        }
        var merged = new StringBuilder();
        int k = 0;
        while (k < texts.Count)
        {
            double weight = weights[k];
            merged.Clear().Append(texts[k]);
            int next = k + 1;
            while (next < texts.Count && weights[next] == weight)
                merged.Append(texts[next++]);
            fragments.Add(new PromptFragment(merged.ToString(), weight));
            k = next;
        }
        return fragments;
    }

    private static int Pop(List<int> stack)
    {
        int last = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return last;
    }

    private static void MultiplyRange(List<double> weights, int start, double multiplier)
    {
        for (int p = start; p < weights.Count; p++)
            weights[p] *= multiplier;
    }

    // Plain text is split at every BREAK that stands as a word of its own (Python: \s*\bBREAK\b\s*), the
    // whitespace around it dropped; each split adds the marker ("BREAK", -1) between the parts.
    private static void AddPlainText(string text, List<string> texts, List<double> weights)
    {
        int partStart = 0;
        int searchFrom = 0;
        while (searchFrom <= text.Length - WeightedText.BreakText.Length)
        {
            int at = text.IndexOf(WeightedText.BreakText, searchFrom, StringComparison.Ordinal);
            if (at < 0)
                break;
            int after = at + WeightedText.BreakText.Length;
            if (!IsWordBoundaryBefore(text, at) || !IsWordBoundaryAfter(text, after))
            {
                searchFrom = at + 1;
                continue;
            }
            int matchStart = at;
            while (matchStart > partStart && IsPythonWhitespace(text[matchStart - 1]))
                matchStart--;
            int matchEnd = after;
            while (matchEnd < text.Length && IsPythonWhitespace(text[matchEnd]))
                matchEnd++;
            texts.Add(text.Substring(partStart, matchStart - partStart));
            weights.Add(1.0);
            texts.Add(WeightedText.BreakText);
            weights.Add(-1.0);
            partStart = matchEnd;
            searchFrom = matchEnd;
        }
        texts.Add(partStart == 0 ? text : text.Substring(partStart));
        weights.Add(1.0);
    }

    // "BREAK" starts with a word character, so there is a boundary before it unless a word character precedes it.
    private static bool IsWordBoundaryBefore(string text, int index)
    {
        if (index == 0)
            return true;
        Rune.DecodeLastFromUtf16(text.AsSpan(0, index), out Rune previous, out _);
        return !IsPythonWordCharacter(previous);
    }

    private static bool IsWordBoundaryAfter(string text, int index)
    {
        if (index >= text.Length)
            return true;
        Rune.DecodeFromUtf16(text.AsSpan(index), out Rune next, out _);
        return !IsPythonWordCharacter(next);
    }

    // Python's \w on str: str.isalnum() (letters Lu/Ll/Lt/Lm/Lo and numbers Nd/Nl/No) or '_'; unlike .NET's \w,
    // combining marks and connector punctuation other than '_' are not word characters.
    private static bool IsPythonWordCharacter(Rune rune)
    {
        if (rune.Value == '_')
            return true;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
            or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
    }

    // Python's \s on str (str.isspace): .NET's white space plus the separators U+001C..U+001F.
    private static bool IsPythonWhitespace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    // The web UI's ":\s*([+-]?[.\d]+)\s*\)" at index (which holds the ':'): on success the end of the match and the
    // span of the number (sign included).
    private static bool TryMatchWeight(string prompt, int index, out int end, out int numberStart, out int numberEnd)
    {
        end = numberStart = numberEnd = 0;
        int j = index + 1;
        while (j < prompt.Length && IsPythonWhitespace(prompt[j]))
            j++;
        numberStart = j;
        if (j < prompt.Length && prompt[j] is '+' or '-')
            j++;
        int digitsStart = j;
        while (j < prompt.Length)
        {
            if (prompt[j] == '.')
            {
                j++;
                continue;
            }
            if (!TryReadDecimalDigit(prompt, j, out _, out int width))
                break;
            j += width;
        }
        if (j == digitsStart)
            return false;
        numberEnd = j;
        while (j < prompt.Length && IsPythonWhitespace(prompt[j]))
            j++;
        if (j >= prompt.Length || prompt[j] != ')')
            return false;
        end = j + 1;
        return true;
    }

    // Python's \d on str: any Unicode decimal digit (Nd), which float() also reads.
    private static bool TryReadDecimalDigit(string text, int index, out int value, out int width)
    {
        Rune.DecodeFromUtf16(text.AsSpan(index), out Rune rune, out width);
        if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.DecimalDigitNumber)
        {
            value = (int)Rune.GetNumericValue(rune);
            return true;
        }
        value = 0;
        return false;
    }

    // Python's float() of the matched [+-]?[.\d]+: digits with at most one dot.
    private static double ParseWeight(string prompt, int start, int end)
    {
        var ascii = new StringBuilder(end - start);
        int dots = 0;
        int digits = 0;
        int j = start;
        while (j < end)
        {
            char c = prompt[j];
            if (c is '+' or '-' or '.')
            {
                dots += c == '.' ? 1 : 0;
                ascii.Append(c);
                j++;
                continue;
            }
            TryReadDecimalDigit(prompt, j, out int value, out int width);
            ascii.Append((char)('0' + value));
            digits++;
            j += width;
        }
        if (dots > 1 || digits == 0)
        {
            throw new InvalidOptionException("prompt",
                $"the weight '{prompt[start..end]}' at character {start} is not a number; write it as in (text:1.2).");
        }
        double weight = double.Parse(ascii.ToString(), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
        // Python's float() gives inf for 400 digits; the web UI then encodes NaN. A weight must be a float32 number.
        if (!(Math.Abs(weight) <= float.MaxValue))
        {
            throw new InvalidOptionException("prompt",
                $"the weight '{prompt[start..end]}' at character {start} is too large to be a weight; write it as in (text:1.2).");
        }
        return weight;
    }
}
