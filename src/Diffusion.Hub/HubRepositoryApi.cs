using System.Text.Json;
using System.Text.RegularExpressions;

namespace Diffusion.Hub;

/// <summary>
/// The two hub API calls a snapshot needs: the commit a revision points at (<c>GET /api/models/REPO/revision/REV</c>) and
/// the file listing at that commit (<c>GET /api/models/REPO/tree/COMMIT[/SUBFOLDER]?recursive=true</c>, paged by its
/// <c>Link: rel="next"</c> header). Every field read is checked: a path leaving the repository, a bad id or size, or a
/// listing cut short is an error, never a file written somewhere else.
/// </summary>
internal sealed partial class HubRepositoryApi(HttpExchange exchange, FileTransfer transfer, ModelDownloaderOptions options)
{
    private const int MaxAnswerBytes = 32 << 20;
    private const int MaxPages = 1000;
    private const int MaxFiles = 100_000;

    private AuthorizedHost Auth => AuthorizedHost.For(options.HubEndpoint, options.HubToken, "HF_TOKEN");

    public Uri FileUrl(HuggingFaceSource source, string commit, string path) =>
        new(options.HubEndpoint, $"{EndpointPath()}{source.Repository}/resolve/{commit}/{string.Join('/', path.Split('/').Select(Uri.EscapeDataString))}");

    public AuthorizedHost FileAuth => Auth;

    public async Task<string> ResolveCommitAsync(HuggingFaceSource source, CancellationToken ct)
    {
        var url = new Uri(options.HubEndpoint, $"{EndpointPath()}api/models/{source.Repository}/revision/{Uri.EscapeDataString(source.Revision)}");
        using JsonDocument answer = await GetJsonAsync(url, source, ct).ConfigureAwait(false);
        if (answer.RootElement.ValueKind != JsonValueKind.Object
            || !answer.RootElement.TryGetProperty("sha", out JsonElement sha) || sha.ValueKind != JsonValueKind.String
            || !CommitId().IsMatch(sha.GetString()!))
            throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, "the hub's revision answer has no valid commit id ('sha').");
        return sha.GetString()!;
    }

    /// <summary>
    /// The files under the source's subfolder; when the subfolder names a file (<c>hf:owner/name:model.safetensors</c>),
    /// that one file (the hub lists nothing under a file's path, so its parent folder is listed and the file picked).
    /// </summary>
    public async Task<IReadOnlyList<HubFile>> ListFilesAsync(HuggingFaceSource source, string commit, CancellationToken ct)
    {
        try
        {
            return await ListFolderAsync(source, source.Subfolder, commit, ct).ConfigureAwait(false);
        }
        catch (ModelDownloadException ex) when (ex.Failure == DownloadFailure.NotFound && source.Subfolder is { } path)
        {
            int slash = path.LastIndexOf('/');
            IReadOnlyList<HubFile>? siblings = null;
            try
            {
                siblings = await ListFolderAsync(source, slash < 0 ? null : path[..slash], commit, ct).ConfigureAwait(false);
            }
            catch (ModelDownloadException) when (!ct.IsCancellationRequested)
            {
                // The parent is not there either: the first answer (nothing under the path) is the one to report.
            }
            if (siblings?.FirstOrDefault(f => f.Path == path) is HubFile file)
                return [file];
            throw new ModelDownloadException(source.ToString(), DownloadFailure.NotFound,
                $"the repository has no file or folder '{path}' at commit {commit}; check the path after ':'.", ex);
        }
    }

    private async Task<IReadOnlyList<HubFile>> ListFolderAsync(HuggingFaceSource source, string? subfolder, string commit, CancellationToken ct)
    {
        string folder = subfolder is null ? "" : "/" + string.Join('/', subfolder.Split('/').Select(Uri.EscapeDataString));
        Uri? url = new(options.HubEndpoint, $"{EndpointPath()}api/models/{source.Repository}/tree/{commit}{folder}?recursive=true&expand=false");
        var files = new List<HubFile>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int page = 0; url is not null; page++)
        {
            if (page >= MaxPages)
                throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, $"the hub's file listing has more than {MaxPages} pages.");
            (JsonDocument answer, Uri? next) = await GetPageAsync(url, source, ct).ConfigureAwait(false);
            using (answer)
            {
                if (answer.RootElement.ValueKind != JsonValueKind.Array)
                    throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, "the hub's file listing is not a JSON array.");
                foreach (JsonElement entry in answer.RootElement.EnumerateArray())
                {
                    if (ReadEntry(entry, source) is HubFile file && seen.Add(file.Path))
                        files.Add(file);
                    if (files.Count > MaxFiles)
                        throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, $"the repository lists more than {MaxFiles} files.");
                }
            }
            url = next;
        }
        if (files.Count == 0)
            throw new ModelDownloadException(source.ToString(), DownloadFailure.NotFound,
                $"the hub lists no files{(subfolder is null ? "" : $" under '{subfolder}'")} at commit {commit}.");
        return files;
    }

    private static HubFile? ReadEntry(JsonElement entry, HuggingFaceSource source)
    {
        string Bad(string why) => $"the hub's file listing has an entry {why}.";
        if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("type", out JsonElement type) || type.ValueKind != JsonValueKind.String)
            throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, Bad("without a type"));
        if (type.GetString() != "file")
            return null;
        if (!entry.TryGetProperty("path", out JsonElement pathElement) || pathElement.GetString() is not { } path || !HuggingFaceSource.SafeRelativePath(path))
            throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, Bad("whose path is missing or leaves the repository"));
        if (!entry.TryGetProperty("size", out JsonElement sizeElement) || !sizeElement.TryGetInt64(out long size) || size < 0)
            throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, Bad($"'{path}' without a valid size"));
        if (entry.TryGetProperty("lfs", out JsonElement lfs) && lfs.ValueKind == JsonValueKind.Object)
        {
            if (!lfs.TryGetProperty("oid", out JsonElement lfsOid) || lfsOid.GetString() is not { } sha256 || !Sha256Id().IsMatch(sha256))
                throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, Bad($"'{path}' whose LFS oid is not a SHA-256"));
            if (lfs.TryGetProperty("size", out JsonElement lfsSize) && lfsSize.TryGetInt64(out long lfsBytes))
                size = lfsBytes;
            return new HubFile(path, size, sha256, IsLfs: true);
        }
        if (!entry.TryGetProperty("oid", out JsonElement oid) || oid.GetString() is not { } blobId || !CommitId().IsMatch(blobId))
            throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, Bad($"'{path}' whose oid is not a git blob id"));
        return new HubFile(path, size, blobId, IsLfs: false);
    }

    private async Task<JsonDocument> GetJsonAsync(Uri url, HuggingFaceSource source, CancellationToken ct) =>
        (await GetPageAsync(url, source, ct).ConfigureAwait(false)).Answer;

    private Task<(JsonDocument Answer, Uri? Next)> GetPageAsync(Uri url, HuggingFaceSource source, CancellationToken ct) =>
        transfer.WithRetriesAsync(source.ToString(), async token =>
        {
            using HttpResponseMessage response = await exchange.GetAsync(url, Auth, source.ToString(), null, token).ConfigureAwait(false);
            byte[] body = await HttpExchange.ReadBoundedAsync(response, MaxAnswerBytes, source.ToString(), token).ConfigureAwait(false);
            if (response.Content.Headers.ContentLength is long announced && announced != body.Length)
                throw new TransientDownloadException($"the hub's answer from {url.Host} ended early");
            JsonDocument answer;
            try
            {
                answer = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
            }
            catch (JsonException ex)
            {
                throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse,
                    $"the hub's answer from {url.Host} is not complete JSON (cut short?): {ex.Message}", ex);
            }
            return (answer, NextPage(response, url));
        }, ct);

    /// <summary>The <c>rel="next"</c> address of a paged answer, if any; only on the hub's own host.</summary>
    private Uri? NextPage(HttpResponseMessage response, Uri current)
    {
        if (!response.Headers.TryGetValues("Link", out IEnumerable<string>? links))
            return null;
        foreach (string link in links)
        {
            Match match = NextLink().Match(link);
            if (match.Success && Uri.TryCreate(current, match.Groups[1].Value, out Uri? next))
            {
                if (!string.Equals(next.Host, options.HubEndpoint.Host, StringComparison.OrdinalIgnoreCase))
                    throw new ModelDownloadException(current.ToString(), DownloadFailure.BadResponse, $"the hub's listing continues on another host ({next.Host}); refused.");
                return next;
            }
        }
        return null;
    }

    /// <summary>The endpoint's own path (a mirror may live under one), ending in '/'.</summary>
    private string EndpointPath() => options.HubEndpoint.AbsolutePath.TrimEnd('/') + "/";

    [GeneratedRegex("<([^>]+)>\\s*;\\s*rel=\"?next\"?")]
    private static partial Regex NextLink();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitId();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Id();
}
