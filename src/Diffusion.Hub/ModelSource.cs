using System.Text.RegularExpressions;

namespace Diffusion.Hub;

/// <summary>
/// Where a model comes from, as a user writes it: <c>hf:owner/name[@revision][:subfolder]</c>,
/// <c>civitai:MODEL_VERSION_ID</c>, or an <c>https://</c> URL. <see cref="Parse"/> checks the text before anything is
/// fetched, so a typo is a clear error rather than a request to a wrong address.
/// </summary>
public abstract partial record ModelSource
{
    /// <summary>Longest source text accepted (a URL or a repository id with a revision and subfolder).</summary>
    public const int MaxLength = 2048;

    /// <summary>The source as the user would write it again (a token never appears in it).</summary>
    public abstract override string ToString();

    /// <summary>Reads a source; throws <see cref="ArgumentException"/> naming what is wrong.</summary>
    /// <param name="text">The source text.</param>
    public static ModelSource Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0 || text.Length > MaxLength)
            throw new ArgumentException($"A model source is 1 to {MaxLength} characters; got {text.Length}.", nameof(text));
        if (text.StartsWith("hf:", StringComparison.Ordinal))
            return HuggingFaceSource.ParseBody(text[3..]);
        if (text.StartsWith("civitai:", StringComparison.Ordinal))
        {
            string id = text["civitai:".Length..];
            if (!CivitaiId().IsMatch(id) || !long.TryParse(id, out long versionId) || versionId <= 0)
                throw new ArgumentException($"'{text}': a Civitai source is civitai:MODEL_VERSION_ID, a positive whole number (the number after modelVersionId= in the model page's address).", nameof(text));
            return new CivitaiSource(versionId);
        }
        if (text.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            return UrlSource.ParseUrl(text);
        throw new ArgumentException(
            $"'{text}' is not a model source: write hf:owner/name[@revision][:subfolder], civitai:MODEL_VERSION_ID or an https:// URL.", nameof(text));
    }

    [GeneratedRegex("^[0-9]{1,18}$")]
    private static partial Regex CivitaiId();
}
