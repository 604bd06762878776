namespace Diffusion.Core.Tokenization;

/// <summary>
/// A piece of a prompt and the attention weight the AUTOMATIC1111 web UI syntax gives it: <c>(word)</c> 1.1,
/// <c>[word]</c> 1/1.1, <c>(word:1.3)</c> 1.3, nested brackets multiplied. The weight is the float32 the web UI
/// hands to torch.
/// </summary>
/// <remarks>
/// A <c>BREAK</c> keyword is represented as the web UI represents it: <see cref="Text"/> <c>"BREAK"</c> with
/// <see cref="Weight"/> −1 (see <see cref="IsBreak"/>). A <c>BREAK</c> inside brackets has its −1 multiplied like
/// any other weight and is then plain text again, as in the web UI.
/// </remarks>
/// <param name="Text">The text, escapes resolved (<c>\(</c> is <c>(</c>).</param>
/// <param name="Weight">The multiplier of the text's tokens' hidden states.</param>
public readonly record struct WeightedText(string Text, float Weight)
{
    /// <summary>The text the web UI uses for a chunk break.</summary>
    public const string BreakText = "BREAK";

    /// <summary>True for the web UI's chunk-break marker: text <c>"BREAK"</c> with weight exactly −1.</summary>
    public bool IsBreak => Weight == -1f && string.Equals(Text, BreakText, StringComparison.Ordinal);
}
