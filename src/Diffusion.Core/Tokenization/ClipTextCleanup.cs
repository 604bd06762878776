namespace Diffusion.Core.Tokenization;

/// <summary>
/// Which reference's text cleanup a <see cref="ClipTokenizer"/> reproduces. The two agree on ordinary prompts;
/// they differ only on HTML references that ftfy leaves alone: on a line with a literal '&lt;' (and every line
/// after it), without a closing ';' ("&amp;amp", "&amp;quot"), or malformed ("&amp;#12ab;").
/// </summary>
public enum ClipTextCleanup
{
    /// <summary>
    /// OpenAI CLIP's <c>SimpleTokenizer</c>: ftfy's <c>fix_text</c>, then <c>html.unescape</c> twice, whitespace
    /// folding, lower-casing.
    /// </summary>
    OpenAIClip,

    /// <summary>
    /// Hugging Face's <c>CLIPTokenizer</c> (the one diffusers pipelines load): ftfy's <c>fix_text</c>, whitespace
    /// folding, lower-casing; no further HTML decoding.
    /// </summary>
    HuggingFace,
}
