using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Diffusion.Hub;

/// <summary>
/// One GET with the download rules: redirects followed here (at most <see cref="MaxRedirects"/>, never from https down to
/// http off the loopback interface) so the token goes only to its own host; a status mapped to a typed error
/// (401/403/404 final, 408/429/5xx transient with the server's Retry-After).
/// </summary>
internal sealed class HttpExchange(HttpClient client, ModelDownloaderOptions options)
{
    public const int MaxRedirects = 10;

    /// <summary>Sends the GET and returns a response with a success (or 206/416) status; the caller disposes it.</summary>
    public async Task<HttpResponseMessage> GetAsync(Uri url, AuthorizedHost? auth, string source, Action<HttpRequestHeaders>? headers, CancellationToken ct)
    {
        for (int redirect = 0; ; redirect++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.UserAgent.ParseAdd("Diffusion.Hub/0.1");
            if (auth is not null && auth.SendsTokenTo(url))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", auth.Token);
            headers?.Invoke(request.Headers);
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                throw new TransientDownloadException($"could not reach {url.Host}: {ex.Message}", inner: ex);
            }
            catch (TaskCanceledException ex) when (!ct.IsCancellationRequested)
            {
                throw new TransientDownloadException($"{url.Host} did not answer in time", inner: ex);
            }

            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                response.Dispose();
                if (redirect >= MaxRedirects)
                    throw new ModelDownloadException(source, DownloadFailure.BadResponse, $"more than {MaxRedirects} redirects from {url.Host}.");
                Uri next = location.IsAbsoluteUri ? location : new Uri(url, location);
                if (next.Scheme != Uri.UriSchemeHttps && !(next.Scheme == Uri.UriSchemeHttp && (next.IsLoopback || url.Scheme == Uri.UriSchemeHttp)))
                    throw new ModelDownloadException(source, DownloadFailure.BadResponse, $"{url.Host} redirected to a {next.Scheme} address ({next.Host}); refused.");
                url = next;
                continue;
            }
            if (response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
                return response;
            string detail = await ReadErrorTextAsync(response, ct).ConfigureAwait(false);
            response.Dispose();
            throw Failure(response, url, auth, source, detail);
        }
    }

    /// <summary>Reads at most <paramref name="maxBytes"/> of a response body (an API answer), refusing a longer one.</summary>
    public static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, int maxBytes, string source, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength > maxBytes)
            throw new ModelDownloadException(source, DownloadFailure.BadResponse, $"the server's answer is {response.Content.Headers.ContentLength} bytes; at most {maxBytes} are read.");
        await using Stream stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[81920];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                    throw new ModelDownloadException(source, DownloadFailure.BadResponse, $"the server's answer is longer than {maxBytes} bytes.");
                buffer.Write(chunk, 0, read);
            }
        }
        catch (IOException ex)
        {
            throw new TransientDownloadException("the connection dropped while reading the server's answer", inner: ex);
        }
        return buffer.ToArray();
    }

    private Exception Failure(HttpResponseMessage response, Uri url, AuthorizedHost? auth, string source, string detail)
    {
        int status = (int)response.StatusCode;
        string said = detail.Length > 0 ? $" (the server said: {detail})" : "";
        bool tokenSent = auth is not null && auth.SendsTokenTo(url);
        string tokenVariable = auth?.TokenVariable ?? "a token variable";
        if (status is 408 or 429 or >= 500)
        {
            TimeSpan? retryAfter = response.Headers.RetryAfter switch
            {
                { Delta: TimeSpan delta } => delta,
                { Date: DateTimeOffset date } => date - DateTimeOffset.UtcNow,
                _ => null,
            };
            if (retryAfter is TimeSpan wait)
                retryAfter = wait < TimeSpan.Zero ? TimeSpan.Zero : wait > options.MaxRetryAfter ? options.MaxRetryAfter : wait;
            return new TransientDownloadException($"{url.Host} answered {status} {response.ReasonPhrase}{said}", response.StatusCode, retryAfter);
        }
        return status switch
        {
            401 => new ModelDownloadException(source, DownloadFailure.Unauthorized, tokenSent
                ? $"{url.Host} refused the token (401){said}; check that {tokenVariable} holds a valid token."
                : $"{url.Host} needs a login (401){said}; set {tokenVariable} to an access token."),
            403 => new ModelDownloadException(source, DownloadFailure.Forbidden, tokenSent
                ? $"{url.Host} refused access (403){said}; the token has no access: for a gated model accept its terms on the model page with that account."
                : $"{url.Host} refused access (403){said}; set {tokenVariable} to a token of an account with access."),
            404 => new ModelDownloadException(source, DownloadFailure.NotFound,
                $"not found on {url.Host} (404){said}; check the name, revision and path{(tokenSent ? "" : $" (a private repository also answers 404 without a token: {tokenVariable})")}."),
            _ => new ModelDownloadException(source, DownloadFailure.BadResponse, $"{url.Host} answered {status} {response.ReasonPhrase}{said}."),
        };
    }

    /// <summary>The first line of an error body (hub and Civitai send a short JSON or text reason), cut to 200 characters.</summary>
    private static async Task<string> ReadErrorTextAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            byte[] body = await ReadBoundedAsync(response, 4096, "", ct).ConfigureAwait(false);
            string text = Encoding.UTF8.GetString(body).ReplaceLineEndings(" ").Trim();
            return text.Length > 200 ? text[..200] + "…" : text;
        }
        catch (Exception ex) when (ex is ModelDownloadException or TransientDownloadException or IOException or HttpRequestException)
        {
            return "";
        }
    }
}
