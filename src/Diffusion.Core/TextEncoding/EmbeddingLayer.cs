namespace Diffusion.Core.TextEncoding;

/// <summary>Which of the text encoder's hidden states conditions the denoiser: the model family's choice.</summary>
public enum EmbeddingLayer
{
    /// <summary>
    /// Stable Diffusion 1.x/2.x: <c>last_hidden_state</c> (after the final layer norm); clip skip N takes
    /// <c>hidden_states[-N]</c> and applies the final layer norm to it, as the AUTOMATIC1111 web UI does.
    /// </summary>
    LastNormalized,

    /// <summary>
    /// Stable Diffusion XL: the penultimate layer's output as it is, <c>hidden_states[-2]</c>, with no final layer
    /// norm (diffusers' and the web UI's SDXL conditioning); clip skip N takes <c>hidden_states[-(N + 1)]</c>, so clip
    /// skip 2 is diffusers' <c>clip_skip=1</c>.
    /// </summary>
    PenultimateRaw,
}
