using System.Collections;

namespace Diffusion.Hub;

/// <summary>
/// Where downloads go and how they are fetched. <see cref="FromEnvironment"/> reads the variables huggingface_hub reads
/// (<c>HF_HOME</c>, <c>HF_HUB_CACHE</c>, <c>HF_ENDPOINT</c>, <c>HF_HUB_OFFLINE</c>, <c>HF_TOKEN</c>, <c>HF_TOKEN_PATH</c>)
/// so the two share one cache, plus <c>CIVITAI_TOKEN</c>, <c>DIFFUSION_CACHE</c> and <c>DIFFUSION_DOWNLOAD_RETRIES</c>. A class, not a record: its
/// printed form must never show a token.
/// </summary>
public sealed class ModelDownloaderOptions
{
    /// <summary>The hub cache folder (<c>models--owner--name/blobs|snapshots|refs</c> inside).</summary>
    public required string HubCache { get; init; }

    /// <summary>Where Civitai and URL downloads go (<c>civitai/ID/</c>, <c>urls/KEY/</c>).</summary>
    public required string DownloadCache { get; init; }

    /// <summary>The hub's address (<c>HF_ENDPOINT</c>; https://huggingface.co).</summary>
    public Uri HubEndpoint { get; init; } = new("https://huggingface.co");

    /// <summary>Civitai's address (https://civitai.com).</summary>
    public Uri CivitaiEndpoint { get; init; } = new("https://civitai.com");

    /// <summary>Use only what the cache holds (<c>HF_HUB_OFFLINE</c>); nothing is requested.</summary>
    public bool Offline { get; init; }

    /// <summary>The hub token, sent only to <see cref="HubEndpoint"/>'s host. Never logged.</summary>
    public string? HubToken { get; init; }

    /// <summary>The Civitai token, sent only to <see cref="CivitaiEndpoint"/>'s host. Never logged.</summary>
    public string? CivitaiToken { get; init; }

    /// <summary>Files fetched at once (1 to 16).</summary>
    public int MaxParallelDownloads { get; init; } = 4;

    /// <summary>Retries of a failed request or a dropped connection before giving up (0 to 20).</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>The first retry's wait; it doubles per retry, with jitter (a server's Retry-After wins, up to <see cref="MaxRetryAfter"/>).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest Retry-After honoured; longer asks are cut to this.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a connection may send nothing before it counts as dropped (and is resumed).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The options the environment gives (the current process's when <paramref name="environment"/> is null).</summary>
    public static ModelDownloaderOptions FromEnvironment(IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        string? Get(string name) => environment[name] is string value && value.Length > 0 ? value : null;

        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string cacheHome = Get("XDG_CACHE_HOME") ?? Path.Combine(home, ".cache");
        string hfHome = Get("HF_HOME") ?? Path.Combine(cacheHome, "huggingface");
        string hubCache = Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(hfHome, "hub");
        string? token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN") ?? ReadTokenFile(Get("HF_TOKEN_PATH") ?? Path.Combine(hfHome, "token"));
        Uri endpoint = Get("HF_ENDPOINT") is { } text
            ? Uri.TryCreate(text.TrimEnd('/'), UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
                ? uri
                : throw new ArgumentException($"HF_ENDPOINT='{text}' is not an http(s) address.")
            : new Uri("https://huggingface.co");
        int retries = 5;
        if (Get("DIFFUSION_DOWNLOAD_RETRIES") is { } retryText
            && (!int.TryParse(retryText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out retries) || retries > 20))
            throw new ArgumentException($"DIFFUSION_DOWNLOAD_RETRIES='{retryText}' is not a whole number from 0 to 20.");
        return new ModelDownloaderOptions
        {
            MaxRetries = retries,
            HubCache = Path.GetFullPath(hubCache),
            DownloadCache = Path.GetFullPath(Get("DIFFUSION_CACHE") ?? Path.Combine(cacheHome, "diffusion")),
            HubEndpoint = endpoint,
            Offline = IsTrue(Get("HF_HUB_OFFLINE")),
            HubToken = token,
            CivitaiToken = Get("CIVITAI_TOKEN"),
        };
    }

    /// <summary>Checks the bounds; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxParallelDownloads, 1, nameof(MaxParallelDownloads));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxParallelDownloads, 16, nameof(MaxParallelDownloads));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetries, nameof(MaxRetries));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxRetries, 20, nameof(MaxRetries));
        ArgumentOutOfRangeException.ThrowIfLessThan(StallTimeout, TimeSpan.FromMilliseconds(10), nameof(StallTimeout));
        ArgumentOutOfRangeException.ThrowIfNegative(RetryDelay.Ticks, nameof(RetryDelay));
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"hub cache {HubCache}, downloads {DownloadCache}, hub {HubEndpoint}{(Offline ? " (offline)" : "")}, hub token {(HubToken is null ? "none" : "set")}, Civitai token {(CivitaiToken is null ? "none" : "set")}";

    /// <summary>huggingface_hub's truth test for its switches.</summary>
    private static bool IsTrue(string? value) => value is not null && value.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private static string? ReadTokenFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length > 4096)
                return null;
            string token = File.ReadAllText(path).Trim();
            return token.Length > 0 ? token : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
