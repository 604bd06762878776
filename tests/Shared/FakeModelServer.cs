using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Diffusion.Testing;

/// <summary>
/// An HTTP server on loopback that speaks the hub's and Civitai's API shapes (revision, paged tree listing, resolve with
/// Range; model-versions and download), with a CDN on a second host name (<c>localhost</c> vs <c>127.0.0.1</c>) and
/// faults a test switches on: dropped connections, wrong bytes, error statuses, truncated or hostile listings.
/// </summary>
internal sealed class FakeModelServer : IDisposable
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private int _active;

    public FakeModelServer()
    {
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Prefixes.Add($"http://localhost:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>The hub and Civitai host.</summary>
    public Uri Origin => new($"http://127.0.0.1:{Port}/");

    /// <summary>The CDN host LFS files and Civitai downloads redirect to.</summary>
    public Uri Cdn => new($"http://localhost:{Port}/");

    /// <summary>Repository files: path → (bytes, LFS?).</summary>
    public Dictionary<string, (byte[] Content, bool Lfs)> Files { get; } = new(StringComparer.Ordinal);

    public string Repository { get; set; } = "owner/model";

    /// <summary>Entries per listing page (paged with a Link header when the listing is longer).</summary>
    public int PageSize { get; set; } = 1000;

    /// <summary>Cut the listing's JSON short (a dropped connection the Content-Length does not reveal).</summary>
    public bool TruncateListing { get; set; }

    /// <summary>Extra raw JSON entries added to the listing (hostile paths).</summary>
    public List<string> ExtraListingEntries { get; } = [];

    /// <summary>Drop the connection after this many bytes, for the next N requests of a file path (path → (bytes, times)).</summary>
    public ConcurrentDictionary<string, (int AfterBytes, int Times)> Drops { get; } = new();

    /// <summary>Serve these bytes instead of the real ones (the published hash stays the real one).</summary>
    public ConcurrentDictionary<string, byte[]> Corrupt { get; } = new();

    /// <summary>Answer requests whose path contains the key with this status (and Retry-After seconds), the next N times (−1: always).</summary>
    public ConcurrentDictionary<string, (int Status, int? RetryAfter, int Times)> Statuses { get; } = new();

    /// <summary>Civitai model versions: id → (file name, bytes, published SHA-256).</summary>
    public Dictionary<long, (string Name, byte[] Content, string? Sha256)> CivitaiVersions { get; } = [];

    /// <summary>Every request: method, host, path and query, Range, Authorization.</summary>
    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    /// <summary>Body bytes sent per file path (what a resumed download costs).</summary>
    public ConcurrentDictionary<string, long> BytesSent { get; } = new();

    /// <summary>The most file bodies sent at once.</summary>
    public int MaxConcurrentFiles { get; private set; }

    /// <summary>How long each file body takes at least (to observe parallelism).</summary>
    public TimeSpan FileDelay { get; set; }

    public sealed record SeenRequest(string Host, string PathAndQuery, string? Range, string? Authorization);

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public static string GitBlobId(byte[] data)
    {
#pragma warning disable CA5350 // git's object id
        byte[] header = Encoding.ASCII.GetBytes($"blob {data.Length}\0");
        return Convert.ToHexStringLower(SHA1.HashData([.. header, .. data]));
#pragma warning restore CA5350
    }

    public IEnumerable<SeenRequest> FileRequests(string path) =>
        Requests.Where(r => r.PathAndQuery.EndsWith("/" + path, StringComparison.Ordinal) && !r.PathAndQuery.Contains("/api/", StringComparison.Ordinal));

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        HttpListenerRequest request = context.Request;
        HttpListenerResponse response = context.Response;
        string path = Uri.UnescapeDataString(request.Url!.AbsolutePath);
        Requests.Enqueue(new SeenRequest(request.Url.Host, request.Url.PathAndQuery, request.Headers["Range"], request.Headers["Authorization"]));
        try
        {
            foreach (var (key, (status, retryAfter, times)) in Statuses)
            {
                if (!request.Url.PathAndQuery.Contains(key, StringComparison.Ordinal) || times == 0)
                    continue;
                Statuses[key] = (status, retryAfter, times < 0 ? times : times - 1);
                response.StatusCode = status;
                if (retryAfter is int seconds)
                    response.Headers["Retry-After"] = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await WriteAsync(response, Encoding.UTF8.GetBytes($"{{\"error\":\"status {status} from the fake server\"}}"));
                return;
            }
            string api = $"/api/models/{Repository}/";
            if (path.StartsWith(api + "revision/", StringComparison.Ordinal))
                await WriteJsonAsync(response, new { id = Repository, sha = Commit });
            else if (path.StartsWith(api + "tree/" + Commit, StringComparison.Ordinal))
                await ListAsync(request, response, path[(api + "tree/" + Commit).Length..].Trim('/'));
            else if (path.StartsWith($"/{Repository}/resolve/{Commit}/", StringComparison.Ordinal))
                await ResolveAsync(request, response, path[$"/{Repository}/resolve/{Commit}/".Length..]);
            else if (path.StartsWith("/cdn/", StringComparison.Ordinal))
                await ServeCdnAsync(request, response, path["/cdn/".Length..]);
            else if (path.StartsWith("/api/v1/model-versions/", StringComparison.Ordinal) && long.TryParse(path.AsSpan("/api/v1/model-versions/".Length), out long id) && CivitaiVersions.TryGetValue(id, out var version))
                await WriteJsonAsync(response, new
                {
                    id,
                    name = "v1.0",
                    files = new object[]
                    {
                        new { name = "preview.png", type = "Training Data", primary = false, downloadUrl = $"{Origin}api/download/models/{id}?type=Training", hashes = new { SHA256 = new string('0', 64) } },
                        new { name = version.Name, type = "Model", primary = true, sizeKB = version.Content.Length / 1024.0, downloadUrl = $"{Origin}api/download/models/{id}", hashes = version.Sha256 is null ? (object)new { } : new { SHA256 = version.Sha256.ToUpperInvariant() } },
                    },
                });
            else if (path.StartsWith("/api/download/models/", StringComparison.Ordinal) && long.TryParse(path.AsSpan("/api/download/models/".Length), out long downloadId) && CivitaiVersions.ContainsKey(downloadId))
                Redirect(response, new Uri(Cdn, $"cdn/civitai-{downloadId}"));
            else
            {
                response.StatusCode = 404;
                await WriteAsync(response, Encoding.UTF8.GetBytes("Entry not found"));
            }
        }
        catch (Exception) when (!_listener.IsListening)
        {
        }
        catch (HttpListenerException)
        {
        }
        catch (IOException)
        {
        }
    }

    private async Task ListAsync(HttpListenerRequest request, HttpListenerResponse response, string folder)
    {
        var entries = Files.Where(f => folder.Length == 0 || f.Key.StartsWith(folder + "/", StringComparison.Ordinal))
            .OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => f.Value.Lfs
                ? JsonSerializer.Serialize(new { type = "file", oid = GitBlobId(Encoding.ASCII.GetBytes("pointer " + f.Key)), size = f.Value.Content.Length, path = f.Key, lfs = new { oid = Sha256(f.Value.Content), size = f.Value.Content.Length, pointerSize = 134 } })
                : JsonSerializer.Serialize(new { type = "file", oid = GitBlobId(f.Value.Content), size = f.Value.Content.Length, path = f.Key }))
            .Prepend(JsonSerializer.Serialize(new { type = "directory", oid = new string('a', 40), size = 0, path = folder.Length == 0 ? "unet" : folder }))
            .Concat(ExtraListingEntries)
            .ToList();
        int page = int.TryParse(request.QueryString["cursor"], out int cursor) ? cursor : 0;
        var slice = entries.Skip(page * PageSize).Take(PageSize).ToList();
        if ((page + 1) * PageSize < entries.Count)
            response.Headers["Link"] = $"<{Origin}api/models/{Repository}/tree/{Commit}{(folder.Length == 0 ? "" : "/" + folder)}?recursive=true&cursor={page + 1}>; rel=\"next\"";
        string json = "[" + string.Join(",", slice) + "]";
        if (TruncateListing)
        {
            // Content-Length matches what is sent: only the JSON itself shows that it was cut.
            json = json[..(json.Length / 2)];
        }
        response.ContentType = "application/json";
        await WriteAsync(response, Encoding.UTF8.GetBytes(json));
    }

    private async Task ResolveAsync(HttpListenerRequest request, HttpListenerResponse response, string path)
    {
        if (!Files.TryGetValue(path, out var file))
        {
            response.StatusCode = 404;
            await WriteAsync(response, Encoding.UTF8.GetBytes("Entry not found"));
            return;
        }
        if (file.Lfs)
            Redirect(response, new Uri(Cdn, "cdn/" + Sha256(file.Content) + "?name=" + Uri.EscapeDataString(path)));
        else
            await ServeBytesAsync(request, response, path, Corrupt.TryGetValue(path, out byte[]? bad) ? bad : file.Content);
    }

    private async Task ServeCdnAsync(HttpListenerRequest request, HttpListenerResponse response, string blob)
    {
        if (blob.StartsWith("civitai-", StringComparison.Ordinal) && long.TryParse(blob.AsSpan("civitai-".Length), out long id))
        {
            var version = CivitaiVersions[id];
            await ServeBytesAsync(request, response, version.Name, Corrupt.TryGetValue(version.Name, out byte[]? badFile) ? badFile : version.Content);
            return;
        }
        var file = Files.First(f => Sha256(f.Value.Content) == blob);
        await ServeBytesAsync(request, response, file.Key, Corrupt.TryGetValue(file.Key, out byte[]? bad) ? bad : file.Value.Content);
    }

    private async Task ServeBytesAsync(HttpListenerRequest request, HttpListenerResponse response, string path, byte[] content)
    {
        int now = Interlocked.Increment(ref _active);
        lock (_listener)
            MaxConcurrentFiles = Math.Max(MaxConcurrentFiles, now);
        try
        {
            if (FileDelay > TimeSpan.Zero)
                await Task.Delay(FileDelay);
            long start = 0;
            if (request.Headers["Range"] is { } range && range.StartsWith("bytes=", StringComparison.Ordinal))
            {
                start = long.Parse(range["bytes=".Length..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
                if (start >= content.Length)
                {
                    response.StatusCode = 416;
                    response.Headers["Content-Range"] = $"bytes */{content.Length}";
                    await WriteAsync(response, []);
                    return;
                }
                response.StatusCode = 206;
                response.Headers["Content-Range"] = $"bytes {start}-{content.Length - 1}/{content.Length}";
            }
            byte[] body = content[(int)start..];
            response.ContentLength64 = body.Length;
            if (Drops.TryGetValue(path, out var drop) && drop.Times > 0)
            {
                Drops[path] = (drop.AfterBytes, drop.Times - 1);
                int cut = Math.Min(drop.AfterBytes, body.Length - 1);
                BytesSent.AddOrUpdate(path, cut, (_, sent) => sent + cut);
                await response.OutputStream.WriteAsync(body.AsMemory(0, cut));
                await response.OutputStream.FlushAsync();
                response.Abort(); // the connection goes down mid-file
                return;
            }
            BytesSent.AddOrUpdate(path, body.Length, (_, sent) => sent + body.Length);
            await response.OutputStream.WriteAsync(body);
            response.Close();
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private static void Redirect(HttpListenerResponse response, Uri target)
    {
        response.StatusCode = 302;
        response.RedirectLocation = target.ToString();
        response.ContentLength64 = 0;
        response.Close();
    }

    private static Task WriteJsonAsync(HttpListenerResponse response, object value)
    {
        response.ContentType = "application/json";
        return WriteAsync(response, JsonSerializer.SerializeToUtf8Bytes(value));
    }

    private static async Task WriteAsync(HttpListenerResponse response, byte[] body)
    {
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
        response.Close();
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }
}
