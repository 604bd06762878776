using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>
/// The text cleanup CLIP runs before BPE: ftfy.fix_text (6.3.1, default configuration), html.unescape twice,
/// whitespace folding, str.lower. Expected values are the "cleaned" texts of clip_reference.json.
/// </summary>
public sealed class ClipTextCleanerTests
{
    [Fact]
    public void CurlyQuotesAreStraightened()
    {
        // ftfy's default configuration has uncurl_quotes=True.
        Assert.Equal("\"curly\" 'single' don't", ClipTextCleaner.Clean("\u201cCurly\u201d \u2018single\u2019 don\u2019t"));
    }

    [Fact]
    public void FullWidthFormsBecomeAscii()
    {
        // ftfy's fix_character_width, U+3000 IDEOGRAPHIC SPACE included.
        Assert.Equal("loud noises 123!", ClipTextCleaner.Clean("\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33 \uff11\uff12\uff13\uff01"));
    }

    [Fact]
    public void HtmlEntitiesAreDecodedRepeatedly()
    {
        Assert.Equal("<3 it's caf\u00e9 & co", ClipTextCleaner.Clean("&amp;lt;3 it&#39;s caf&eacute; &amp; co"));
    }

    [Fact]
    public void LiteralLessThanStopsFtfyButNotHtmlUnescape()
    {
        // ftfy leaves entities alone on a line with '<' (and after it); CLIP's own html.unescape still decodes
        // "&amp;" once per pass, so "&amp;amp;" becomes "&" after its two passes but "&amp;amp;amp;" does not.
        Assert.Equal("a < b & c &amp; d", ClipTextCleaner.Clean("a < b &amp;amp; c &amp;amp;amp; d"));
    }

    [Fact]
    public void ControlCharactersAreRemovedAndWhitespaceFolded()
    {
        Assert.Equal("a b cd e", ClipTextCleaner.Clean("  a\t\tb\r\nc\u0000d\u001b[31m e\ufeff  "));
    }

    [Fact]
    public void C1ControlsAreReadAsWindows1252()
    {
        // U+0085 becomes '…' (fix_c1_controls runs before fix_line_breaks); U+0092 becomes '’', then "'".
        Assert.Equal("next\u2026line it's", ClipTextCleaner.Clean("next\u0085line it\u0092s"));
    }

    [Fact]
    public void TextIsNfcNormalized()
    {
        Assert.Equal("caf\u00e9", ClipTextCleaner.Clean("cafe\u0301"));
    }

    [Fact]
    public void LowerCasingFollowsPython()
    {
        // Python's str.lower: 'İ' -> "i̇" (two code points), word-final 'Σ' -> 'ς'.
        Assert.Equal("i\u0307stanbul \u03bf\u03b4\u03bf\u03c2 \u03c3\u03b1\u03c2", ClipTextCleaner.Clean("\u0130stanbul \u039f\u0394\u039f\u03a3 \u03a3\u0391\u03a3"));
    }

    [Fact]
    public void PlainAsciiFastPathAgreesWithTheFullCleanup()
    {
        int checkedCount = 0;
        foreach (var reference in ClipReferenceData.Cases)
        {
            var buffer = new char[reference.Prompt.Length];
            if (!ClipTextCleaner.TryCleanPlainAscii(reference.Prompt, buffer, out int length))
                continue;
            Assert.Equal(reference.Cleaned, new string(buffer, 0, length));
            checkedCount++;
        }
        Assert.True(checkedCount > 50);
    }

    [Fact]
    public void PlainAsciiFastPathDeclinesTextThatNeedsFixing()
    {
        var buffer = new char[16];

        Assert.False(ClipTextCleaner.TryCleanPlainAscii("a &amp; b", buffer, out _));
        Assert.False(ClipTextCleaner.TryCleanPlainAscii("a\r\nb", buffer, out _));
        Assert.False(ClipTextCleaner.TryCleanPlainAscii("caf\u00e9", buffer, out _));
    }
}
