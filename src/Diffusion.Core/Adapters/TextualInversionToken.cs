namespace Diffusion.Core.Adapters;

/// <summary>A token string added by a textual-inversion embedding and the id its vector has in the enlarged embedding matrix.</summary>
/// <param name="Token">The token as the tokenizer must match it (e.g. <c>mytoken</c>, <c>mytoken_1</c>).</param>
/// <param name="Id">Its id: the text encoder's original vocabulary size plus its position among the added vectors.</param>
public readonly record struct TextualInversionToken(string Token, int Id);
