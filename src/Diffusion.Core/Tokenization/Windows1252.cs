namespace Diffusion.Core.Tokenization;

/// <summary>
/// What the C1 control characters U+0080–U+009F stand for when read as Windows-1252, the way HTML5 (and so
/// Python's <c>html.unescape</c>) and ftfy's <c>fix_c1_controls</c> ("sloppy" Windows-1252) read them.
/// </summary>
internal static class Windows1252
{
    // Index = code - 0x80. The five bytes Windows-1252 leaves undefined (81, 8D, 8F, 90, 9D) stay as they are.
    private const string C1Map =
        "\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F" +
        "\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178";

    /// <summary>Maps a C1 control character to its Windows-1252 reading; any other character is returned as is.</summary>
    public static char C1ToWindows1252(char c) => c is >= '\u0080' and <= '\u009F' ? C1Map[c - 0x80] : c;
}
