namespace Diffusion.Hub;

/// <summary>
/// A service's host, the token for it (if any) and the variable a user sets it with. The token is sent only to that
/// host: redirects to a CDN or anywhere else never carry it.
/// </summary>
internal sealed record AuthorizedHost(string Host, int Port, string? Token, string TokenVariable)
{
    public static AuthorizedHost For(Uri endpoint, string? token, string tokenVariable) => new(endpoint.Host, endpoint.Port, token, tokenVariable);

    /// <summary>True when the token goes with a request to <paramref name="url"/>.</summary>
    public bool SendsTokenTo(Uri url) => Token is not null && string.Equals(url.Host, Host, StringComparison.OrdinalIgnoreCase) && url.Port == Port;

    /// <summary>Never the token.</summary>
    public override string ToString() => $"{TokenVariable} for {Host}:{Port} ({(Token is null ? "not set" : "set")})";
}
