namespace Diffusion.Core.Tokenization;

/// <summary>
/// Settings of a <see cref="ClipTokenizer"/> that are not in vocab.json and merges.txt. The defaults are
/// Stable Diffusion 1.x's (Hugging Face <c>CLIPTokenizer</c> defaults with <c>model_max_length</c> 77);
/// Stable Diffusion 2.x pads with <c>"!"</c> (id 0) instead.
/// </summary>
public sealed record ClipTokenizerOptions
{
    /// <summary>The default options (SD 1.x): 77 tokens, padded with <c>&lt;|endoftext|&gt;</c>.</summary>
    public static ClipTokenizerOptions Default { get; } = new();

    /// <summary>Length of every encoded sequence, start and end tokens included (<c>model_max_length</c>). At least 2.</summary>
    public int MaxLength { get; init; } = 77;

    /// <summary>The token put first (<c>bos_token</c>).</summary>
    public string BosToken { get; init; } = "<|startoftext|>";

    /// <summary>The token put after the prompt's tokens (<c>eos_token</c>).</summary>
    public string EosToken { get; init; } = "<|endoftext|>";

    /// <summary>The token that fills the sequence up to <see cref="MaxLength"/> (<c>pad_token</c>).</summary>
    public string PadToken { get; init; } = "<|endoftext|>";

    /// <summary>Whose text cleanup to reproduce: OpenAI CLIP's (the default) or Hugging Face's.</summary>
    public ClipTextCleanup Cleanup { get; init; } = ClipTextCleanup.OpenAIClip;
}
