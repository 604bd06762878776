using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>
/// The tokenizer against OpenAI CLIP's own tokenizer (clip_reference.json), prompt by prompt, and against
/// Hugging Face CLIPTokenizer's cleanup where that differs.
/// </summary>
public sealed class ClipTokenizerReferenceTests
{
    public static TheoryData<int> Cases => ClipReferenceData.CaseIndices();

    [Theory]
    [MemberData(nameof(Cases))]
    public void CleanedTextMatchesClip(int index)
    {
        var reference = ClipReferenceData.Cases[index];

        string cleaned = ClipTextCleaner.Clean(reference.Prompt);

        Assert.Equal(Escape(reference.Cleaned), Escape(cleaned));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TokenIdsMatchClip(int index)
    {
        var reference = ClipReferenceData.Cases[index];

        var ids = TokenizerFiles.Clip.EncodeWithoutSpecialTokens(reference.Prompt);

        Assert.Equal(reference.Ids, ids);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void PaddedEncodingIsStartTokenFirst75IdsEndTokenPadding(int index)
    {
        // clip.tokenize(prompt, truncate=True) and Hugging Face (padding="max_length", truncation=True) give
        // <|startoftext|>, the first 75 ids, <|endoftext|>, then the pad token.
        var reference = ClipReferenceData.Cases[index];
        var tokenizer = TokenizerFiles.Clip;
        int kept = Math.Min(reference.Ids.Length, 75);
        var expected = new List<int> { 49406 };
        expected.AddRange(reference.Ids.Take(kept));
        expected.Add(49407);
        while (expected.Count < 77)
            expected.Add(49407);

        var encoded = tokenizer.Encode(reference.Prompt);

        Assert.Equal(expected, encoded.Ids);
        Assert.Equal(kept + 2, encoded.TokenCount);
        Assert.Equal(reference.Ids.Length - kept, encoded.DroppedTokenCount);
        Assert.Equal(reference.Ids.Length > 75, encoded.Truncated);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void HuggingFaceCleanedTextMatches(int index)
    {
        var reference = ClipReferenceData.Cases[index];

        string cleaned = ClipTextCleaner.Clean(reference.Prompt, ClipTextCleanup.HuggingFace);

        Assert.Equal(Escape(reference.HuggingFaceCleaned), Escape(cleaned));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void HuggingFaceTokenIdsMatch(int index)
    {
        var reference = ClipReferenceData.Cases[index];

        var ids = TokenizerFiles.ClipHuggingFace.EncodeWithoutSpecialTokens(reference.Prompt);

        Assert.Equal(reference.HuggingFaceIds, ids);
    }

    [Fact]
    public void ReferenceDataCoversTruncatedAndEmptyPrompts()
    {
        Assert.True(ClipReferenceData.Cases.Count >= 150);
        Assert.Contains(ClipReferenceData.Cases, c => c.Ids.Length > 75);
        Assert.Contains(ClipReferenceData.Cases, c => c.Ids.Length == 0);
        Assert.Contains(ClipReferenceData.Cases, c => !c.HuggingFaceIds.SequenceEqual(c.Ids));
        // The hardening issue's mojibake case, which ftfy repairs to "café".
        Assert.Contains(ClipReferenceData.Cases, c => c.Prompt == "caf\u00C3\u00A9" && c.Cleaned == "caf\u00e9");
    }

    [Theory]
    [InlineData("a\uFFFEe\u0301 x", new[] { 320, 27850, 378, 4166, 343 })]
    [InlineData("\uFFFE", new[] { 27850, 378 })]
    [InlineData("caf\u00c3\u00a9\uFFFE ok", new[] { 15304, 27850, 378, 2481 })]
    public void The_noncharacter_U_FFFE_is_kept_as_OpenAI_CLIP_keeps_it(string prompt, int[] expected)
    {
        // Found by fuzzing: .NET's NFC normalization throws ArgumentException on U+FFFE, Python's keeps it. Ids from
        // OpenAI CLIP's simple_tokenizer with ftfy 6.3.1.
        Assert.Equal(expected, TokenizerFiles.Clip.EncodeWithoutSpecialTokens(prompt));
    }

    [Theory]
    [InlineData("\uFF26\uFF35\uFF2C\uFF2C\uFF37\uFF29\uFF24\uFF34\uFF28 text", "FULLWIDTH text")]
    [InlineData("\uFF11\uFF12\uFF13 digits", "123 digits")]
    [InlineData("combining e\u0301 accent", "combining \u00e9 accent")]
    [InlineData("caf\u00C3\u00A9", "caf\u00e9")]
    public void FullWidthFormsCombiningMarksAndMojibakeTokenizeAsTheTextFtfyMakesOfThem(string prompt, string asFixed)
        => Assert.Equal(TokenizerFiles.Clip.EncodeWithoutSpecialTokens(asFixed), TokenizerFiles.Clip.EncodeWithoutSpecialTokens(prompt));

    private static string Escape(string text)
    {
        var builder = new System.Text.StringBuilder();
        foreach (char c in text)
            builder.Append(c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:X4}");
        return builder.ToString();
    }
}
