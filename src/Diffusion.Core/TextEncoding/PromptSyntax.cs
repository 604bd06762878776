namespace Diffusion.Core.TextEncoding;

/// <summary>How <see cref="PromptEmbedder"/> reads a prompt.</summary>
public enum PromptSyntax
{
    /// <summary>
    /// As diffusers does: the text as written (brackets are text), one window of the tokenizer's maximum length
    /// (77), tokens beyond it dropped and reported.
    /// </summary>
    Plain,

    /// <summary>
    /// As the AUTOMATIC1111 web UI does: attention syntax (<c>(word:1.3)</c>, <c>[word]</c>, <c>BREAK</c>; see
    /// <see cref="Tokenization.PromptParser"/>), any length in chunks of 75 tokens, each token's hidden state
    /// multiplied by its weight and each chunk's mean restored.
    /// </summary>
    Weighted,
}
