using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>
/// PromptParser against the AUTOMATIC1111 web UI's parse_prompt_attention (modules/prompt_parser.py): its
/// docstring examples, and ~75 prompts run through the web UI's own function (A1111PromptReference).
/// </summary>
public sealed class PromptParserTests
{
    [Theory]
    [MemberData(nameof(A1111PromptReference.ParseCaseIndices), MemberType = typeof(A1111PromptReference))]
    public void MatchesTheWebUiParser(int index)
    {
        var (prompt, expected) = A1111PromptReference.ParseCase(index);

        List<PromptFragment> fragments = PromptParser.ParseFragments(prompt);

        Assert.Equal(expected.Count, fragments.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Text, fragments[i].Text);
            Assert.Equal(expected[i].Weight, fragments[i].Weight); // float64, bit for bit
        }
    }

    [Theory]
    [MemberData(nameof(A1111PromptReference.ParseCaseIndices), MemberType = typeof(A1111PromptReference))]
    public void PublicWeightsAreTheFloat32OfTheWebUiWeights(int index)
    {
        var (prompt, expected) = A1111PromptReference.ParseCase(index);

        IReadOnlyList<WeightedText> parsed = PromptParser.Parse(prompt);

        Assert.Equal(expected.Count, parsed.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.Equal(new WeightedText(expected[i].Text, (float)expected[i].Weight), parsed[i]);
    }

    [Fact]
    public void DocstringExampleWithNestingAndExplicitWeights()
    {
        // parse_prompt_attention's docstring.
        IReadOnlyList<WeightedText> parsed = PromptParser.Parse("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).");

        WeightedText[] expected =
        [
            new("a ", 1f), new("house", (float)1.5730000000000004), new(" ", 1.1f), new("on", 1f), new(" a ", 1.1f),
            new("hill", 0.55f), new(", sun, ", 1.1f), new("sky", (float)1.4641000000000006), new(".", 1.1f),
        ];
        Assert.Equal(expected, parsed);
    }

    [Theory]
    [InlineData("normal text", "normal text", 1.0)]
    [InlineData("(unbalanced", "unbalanced", 1.1)]
    [InlineData("[unbalanced", "unbalanced", 1 / 1.1)]
    [InlineData("\\(literal\\]", "(literal]", 1.0)]
    [InlineData("(unnecessary)(parens)", "unnecessaryparens", 1.1)]
    [InlineData("unbalanced)", "unbalanced)", 1.0)]
    [InlineData("a \\ b", "a  b", 1.0)]
    [InlineData("a \\\\ b", "a \\ b", 1.0)]
    [InlineData("((a:2):3)", "a", 6.0)]
    [InlineData("(a: 1.5 )", "a", 1.5)]
    [InlineData("(a:1e3)", "a:1e3", 1.1)]
    [InlineData("", "", 1.0)]
    public void SinglePieceExamples(string prompt, string text, double weight)
    {
        Assert.Equal([new WeightedText(text, (float)weight)], PromptParser.Parse(prompt));
    }

    [Fact]
    public void BreakIsAMarkerBetweenPieces()
    {
        IReadOnlyList<WeightedText> parsed = PromptParser.Parse("a cat BREAK a dog");

        Assert.Equal([new("a cat", 1f), new("BREAK", -1f), new("a dog", 1f)], parsed);
        Assert.True(parsed[1].IsBreak);
    }

    [Fact]
    public void BreakInsideBracketsIsWeightedTextNotAMarker()
    {
        // The web UI multiplies the marker's -1 by the bracket's 1.1, and tokenize_line then no longer sees a BREAK.
        IReadOnlyList<WeightedText> parsed = PromptParser.Parse("(a BREAK b)");

        Assert.Equal([new("a", 1.1f), new("BREAK", -1.1f), new("b", 1.1f)], parsed);
        Assert.False(parsed[1].IsBreak);
    }

    [Theory]
    [InlineData("aBREAK b")]
    [InlineData("a_BREAK b")]
    [InlineData("break")]
    public void BreakMustBeAWordOfItsOwn(string prompt)
    {
        Assert.Equal([new WeightedText(prompt, 1f)], PromptParser.Parse(prompt));
    }

    [Theory]
    [InlineData("(a:1.2.3)", "1.2.3")]
    [InlineData("(a:.)", ".")]
    public void AWeightThatIsNotANumberIsATypedError(string prompt, string weight)
    {
        // The web UI's float() raises ValueError on these.
        var error = Assert.Throws<InvalidOptionException>(() => PromptParser.Parse(prompt));

        Assert.Equal("prompt", error.OptionName);
        Assert.Contains(weight, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AWeightBeyondFloat32IsATypedErrorNotAnInfiniteWeight()
    {
        // float("9" * 41) is 1e41 in Python, infinite in float32: the web UI then encodes NaN and the UNet reports it.
        string digits = new('9', 41);
        var error = Assert.Throws<InvalidOptionException>(() => PromptParser.Parse($"a (cat:{digits})"));

        Assert.Equal("prompt", error.OptionName);
        Assert.Contains("too large", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMalformedWeightWithoutAnOpenBracketIsText()
    {
        Assert.Equal([new WeightedText("a:1.2.3)", 1f)], PromptParser.Parse("a:1.2.3)"));
    }
}
