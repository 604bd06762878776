namespace Diffusion.Hub;

/// <summary>
/// One file at an <c>https://</c> address (plain <c>http://</c> only on the loopback interface, where nothing travels
/// over a network). Its name is the last segment of the path.
/// </summary>
/// <param name="Url">The address.</param>
/// <param name="Sha256">The file's SHA-256 when known (hex); the download is checked against it.</param>
public sealed record UrlSource(Uri Url, string? Sha256 = null) : ModelSource
{
    /// <inheritdoc />
    public override string ToString() => Url.GetComponents(UriComponents.HttpRequestUrl, UriFormat.UriEscaped);

    /// <summary>The file name the download is stored under: the last path segment, checked to be a plain name.</summary>
    public string FileName
    {
        get
        {
            string name = Uri.UnescapeDataString(Url.Segments[^1]).Trim('/');
            return ModelDownloader.IsPlainFileName(name) ? name : "download";
        }
    }

    internal static UrlSource ParseUrl(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
            throw new ArgumentException($"'{text}' is not a valid http(s) address.", nameof(text));
        if (url.Scheme == Uri.UriSchemeHttp && !url.IsLoopback)
            throw new ArgumentException($"'{text}': plain http is refused for downloads (the file could be altered on the way); use https.", nameof(text));
        if (!string.IsNullOrEmpty(url.UserInfo))
            throw new ArgumentException($"'{url.Host}': a user name or password in the address is refused (it would be stored in the cache's records); use a token variable.", nameof(text));
        return new UrlSource(url);
    }
}
