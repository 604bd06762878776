namespace Diffusion.Core.Models;

/// <summary>
/// What a diffusion transformer is conditioned on besides its latents and timestep, for the rows of one call: the text
/// tokens (<c>encoder_hidden_states</c>, [rows, tokens, joint width]), the pooled projection (<c>pooled_projections</c>,
/// [rows, width]) and, for FLUX.1, the RoPE position ids (<c>img_ids</c> [image tokens, 3], <c>txt_ids</c> [tokens, 3]) and
/// the distilled guidance scale (<c>guidance</c>, FLUX.1-dev).
/// </summary>
/// <param name="EncoderHiddenStates">[rows, <paramref name="TextTokens"/>, joint width].</param>
/// <param name="TextTokens">Text tokens per row.</param>
/// <param name="PooledProjections">[rows, pooled width].</param>
/// <param name="ImageIds">[image tokens, 3] (FLUX.1); empty for models without position ids.</param>
/// <param name="TextIds">[<paramref name="TextTokens"/>, 3] (FLUX.1); empty for models without position ids.</param>
/// <param name="Guidance">The guidance the model embeds (FLUX.1-dev's <c>guidance</c>), or null.</param>
public readonly record struct TransformerConditioning(
    Memory<float> EncoderHiddenStates, int TextTokens, Memory<float> PooledProjections,
    Memory<float> ImageIds, Memory<float> TextIds, float? Guidance);
