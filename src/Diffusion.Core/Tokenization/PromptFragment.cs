namespace Diffusion.Core.Tokenization;

/// <summary>
/// A parsed piece of a prompt with its weight in double precision, as the web UI's Python computes and compares
/// it (runs of equal weights are merged, and a BREAK is a BREAK only at exactly −1, both in float64).
/// </summary>
internal readonly record struct PromptFragment(string Text, double Weight)
{
    /// <summary>The web UI's test for a chunk break: <c>text == 'BREAK' and weight == -1</c>.</summary>
    public bool IsBreak => Weight == -1.0 && string.Equals(Text, WeightedText.BreakText, StringComparison.Ordinal);
}
