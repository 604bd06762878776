using CsCheck;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>Properties of the A1111 prompt parser over generated prompts (CsCheck), beside the web UI's reference cases.</summary>
public sealed class PromptParserPropertyTests
{
    // Prompts built from the syntax's own characters and words, so brackets, weights, escapes and BREAK meet often.
    private static readonly Gen<string> s_syntaxPrompt = Gen.OneOf<string>(
            "(", ")", "[", "]", ":", "\\", "a", "cat", " ", ",", "1.5", "0.5", "BREAK", ".", "-", "2", "(x:1.2)", "é", "\u65e5", "\n")
        .Array[0, 30].Select(parts => string.Concat(parts));

    [Fact]
    public void Any_text_parses_or_is_an_invalid_weight_never_another_exception()
        => Gen.OneOf(Gen.String, s_syntaxPrompt).Sample(prompt =>
        {
            try
            {
                PromptParser.Parse(prompt);
            }
            catch (InvalidOptionException error)
            {
                Assert.Equal("prompt", error.OptionName);
            }
        }, iter: 2000);

    [Fact]
    public void Every_weight_is_a_finite_float_and_there_is_at_least_one_piece()
        => s_syntaxPrompt.Sample(prompt =>
        {
            IReadOnlyList<WeightedText> pieces;
            try
            {
                pieces = PromptParser.Parse(prompt);
            }
            catch (InvalidOptionException)
            {
                return true;
            }
            // Weights may be negative: (x:-2) is allowed, and a BREAK inside brackets scales the web UI's -1 marker
            // (then it is text "BREAK" at -0.909…, as in the web UI). They are never NaN or infinite.
            return pieces.Count >= 1 && pieces.All(p => float.IsFinite(p.Weight));
        }, iter: 2000);

    [Fact]
    public void Text_without_syntax_characters_is_one_piece_at_weight_1()
        => Gen.Char["abcdefghijklmnopqrstuvwxyz ,.-'0123456789éü\u65e5"].Array[0, 60].Select(cs => new string(cs))
            .Where(text => !text.Contains("BREAK", StringComparison.Ordinal))
            .Sample(text =>
            {
                IReadOnlyList<WeightedText> pieces = PromptParser.Parse(text);
                return pieces.Count == 1 && pieces[0].Text == text && pieces[0].Weight == 1f;
            });

    [Fact]
    public void Escaped_brackets_and_backslashes_come_back_as_the_literal_text()
        => Gen.Char["ab ()[]\\:1."].Array[1, 40].Select(cs => new string(cs)).Sample(text =>
        {
            string escaped = text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("(", "\\(", StringComparison.Ordinal)
                .Replace(")", "\\)", StringComparison.Ordinal).Replace("[", "\\[", StringComparison.Ordinal).Replace("]", "\\]", StringComparison.Ordinal);
            IReadOnlyList<WeightedText> pieces = PromptParser.Parse(escaped);
            return pieces.Count == 1 && pieces[0].Text == text && pieces[0].Weight == 1f;
        });

    [Fact]
    public void Nesting_round_brackets_multiplies_by_1_1_each_time()
        => Gen.Int[1, 12].Sample(depth =>
        {
            string prompt = new string('(', depth) + "cat" + new string(')', depth);
            WeightedText piece = Assert.Single(PromptParser.Parse(prompt));
            return piece.Text == "cat" && piece.Weight == (float)Math.Pow(1.1, depth);
        });
}
