using System.Security.Cryptography;
using System.Text;

namespace Diffusion.Hub;

/// <summary>
/// Downloads models: a hub repository (or a subfolder) into huggingface_hub's cache, a Civitai model version's primary
/// file, or a file at a URL. Files already in the cache are used as they are; missing ones are fetched at most
/// <see cref="ModelDownloaderOptions.MaxParallelDownloads"/> at a time, resumably, verified, and moved into place only
/// when complete. Thread-safe; dispose it to release its connections.
/// </summary>
public sealed class ModelDownloader : IDisposable
{
    private readonly HttpClient _client;
    private readonly ModelDownloaderOptions _options;
    private readonly FileTransfer _transfer;
    private readonly HubRepositoryApi _hub;
    private readonly CivitaiApi _civitai;
    private readonly HubCacheLayout _layout;

    /// <summary>Creates a downloader; <paramref name="handler"/> replaces the HTTP stack (a proxy, a test server).</summary>
    public ModelDownloader(ModelDownloaderOptions options, HttpMessageHandler? handler = null)
        : this(options, handler, openPartialFile: null)
    {
    }

    /// <summary>The storage seam for tests: <paramref name="openPartialFile"/> opens the partial files (a full disk, a failing device).</summary>
    internal ModelDownloader(ModelDownloaderOptions options, HttpMessageHandler? handler, Func<string, Stream>? openPartialFile)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        // Redirects are followed by HttpExchange, which decides per hop whether the token goes along.
        _client = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(30) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var exchange = new HttpExchange(_client, options);
        _transfer = new FileTransfer(exchange, options, openPartialFile);
        _hub = new HubRepositoryApi(exchange, _transfer, options);
        _civitai = new CivitaiApi(exchange, _transfer, options);
        _layout = new HubCacheLayout(options.HubCache);
    }

    /// <summary>Where hub repositories are cached.</summary>
    public string HubCache => _options.HubCache;

    /// <summary>Fetches what <paramref name="source"/> names (or finds it in the cache) and says where it is.</summary>
    public Task<DownloadedModel> DownloadAsync(ModelSource source, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        return source switch
        {
            HuggingFaceSource hub => DownloadHubAsync(hub, progress, cancellationToken),
            CivitaiSource civitai => DownloadCivitaiAsync(civitai, progress, cancellationToken),
            UrlSource url => DownloadUrlAsync(url, progress, cancellationToken),
            _ => throw new ArgumentException($"Unknown source type {source.GetType().Name}.", nameof(source)),
        };
    }

    /// <summary>True for a bare file name: no folder, no '..', nothing a file system would read as a path.</summary>
    internal static bool IsPlainFileName(string name) =>
        name.Length is > 0 and <= 255 && name is not "." and not ".." && name.IndexOfAny(['/', '\\', '\0', ':']) < 0
        && !name.Any(char.IsControl);

    private async Task<DownloadedModel> DownloadHubAsync(HuggingFaceSource source, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string name = source.ToString();
        string commit;
        if (_options.Offline)
        {
            commit = (source.RevisionIsCommit ? source.Revision : _layout.ReadRef(source.Repository, source.Revision))
                ?? throw new ModelDownloadException(name, DownloadFailure.NotInCache,
                    $"downloads are off (HF_HUB_OFFLINE) and the cache {_options.HubCache} has no snapshot of revision '{source.Revision}'.");
            return CachedSnapshot(source, commit);
        }
        commit = source.RevisionIsCommit ? source.Revision : await _hub.ResolveCommitAsync(source, ct).ConfigureAwait(false);
        IReadOnlyList<HubFile> files = await _hub.ListFilesAsync(source, commit, ct).ConfigureAwait(false);
        // Files with the same content share one blob (identical configs in several folders are common): each blob is
        // fetched once, by the first file that names it, and every file's snapshot entry links to it afterwards.
        var blobs = files.GroupBy(f => f.BlobId, StringComparer.Ordinal).Select(g => g.First()).ToList();
        var fetched = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(blobs,
            new ParallelOptions { MaxDegreeOfParallelism = _options.MaxParallelDownloads, CancellationToken = ct },
            async (file, token) => fetched[file.BlobId] = await FetchBlobAsync(source, commit, file, progress, token).ConfigureAwait(false))
            .ConfigureAwait(false);
        var results = new List<DownloadedFile>(files.Count);
        foreach (HubFile file in files)
        {
            _layout.LinkSnapshot(source.Repository, commit, file.Path, file.BlobId);
            results.Add(new DownloadedFile(file.Path, _layout.SnapshotPath(source.Repository, commit, file.Path), file.Size,
                file.IsLfs ? file.BlobId : null, fetched[file.BlobId]));
        }
        if (!source.RevisionIsCommit)
            _layout.WriteRef(source.Repository, source.Revision, commit);
        return new DownloadedModel(source, ModelPath(source, commit), commit, results);
    }

    /// <summary>Fetches a file's blob unless the cache holds it; true when it was downloaded.</summary>
    private async Task<bool> FetchBlobAsync(HuggingFaceSource source, string commit, HubFile file, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string blob = _layout.BlobPath(source.Repository, file.BlobId);
        if (File.Exists(blob) && new FileInfo(blob).Length == file.Size)
        {
            progress?.Report(new DownloadProgress(file.Path, file.Size, file.Size, FromCache: true));
            return false;
        }
        var expected = new ExpectedContent(file.Size, file.IsLfs ? file.BlobId : null, file.IsLfs ? null : file.BlobId);
        await _transfer.DownloadAsync(_hub.FileUrl(source, commit, file.Path), _hub.FileAuth, blob, expected, source.ToString(), file.Path, progress, ct)
            .ConfigureAwait(false);
        return true;
    }

    private DownloadedModel CachedSnapshot(HuggingFaceSource source, string commit)
    {
        string folder = ModelPath(source, commit);
        if (File.Exists(folder))
            return new DownloadedModel(source, folder, commit, [new DownloadedFile(source.Subfolder!, folder, new FileInfo(folder).Length, null, Downloaded: false)]);
        if (!Directory.Exists(folder))
            throw new ModelDownloadException(source.ToString(), DownloadFailure.NotInCache,
                $"downloads are off (HF_HUB_OFFLINE) and the cache has no snapshot folder {folder}.");
        string snapshot = _layout.SnapshotFolder(source.Repository, commit);
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(path => new DownloadedFile(Path.GetRelativePath(snapshot, path).Replace('\\', '/'), path, new FileInfo(path).Length, null, Downloaded: false))
            .ToList();
        return new DownloadedModel(source, folder, commit, files);
    }

    /// <summary>The snapshot folder, or its subfolder, or the one file a subfolder path names.</summary>
    private string ModelPath(HuggingFaceSource source, string commit) =>
        source.Subfolder is null ? _layout.SnapshotFolder(source.Repository, commit) : _layout.SnapshotPath(source.Repository, commit, source.Subfolder);

    private async Task<DownloadedModel> DownloadCivitaiAsync(CivitaiSource source, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string folder = Path.Combine(_options.DownloadCache, "civitai", source.ModelVersionId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (_options.Offline)
            return CachedSingleFile(source, folder);
        CivitaiFile file = await _civitai.PrimaryFileAsync(source, ct).ConfigureAwait(false);
        string destination = Path.Combine(folder, file.Name);
        return await FetchSingleFileAsync(source, file.DownloadUrl, _civitai.Auth, destination, file.Sha256, progress, ct).ConfigureAwait(false);
    }

    private Task<DownloadedModel> DownloadUrlAsync(UrlSource source, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string destination = UrlDestination(_options, source);
        if (_options.Offline)
            return Task.FromResult(CachedSingleFile(source, Path.GetDirectoryName(destination)!));
        return FetchSingleFileAsync(source, source.Url, null, destination, source.Sha256?.ToLowerInvariant(), progress, ct);
    }

    /// <summary>Where a URL download goes: one folder per address (a hash of it), so same-named files from different places never collide.</summary>
    internal static string UrlDestination(ModelDownloaderOptions options, UrlSource source)
    {
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(source.ToString())))[..16].ToLowerInvariant();
        return Path.Combine(options.DownloadCache, "urls", key, source.FileName);
    }

    private async Task<DownloadedModel> FetchSingleFileAsync(ModelSource source, Uri url, AuthorizedHost? auth, string destination, string? sha256,
        IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string name = Path.GetFileName(destination);
        if (File.Exists(destination))
        {
            long size = new FileInfo(destination).Length;
            progress?.Report(new DownloadProgress(name, size, size, FromCache: true));
            return new DownloadedModel(source, destination, null, [new DownloadedFile(name, destination, size, sha256, Downloaded: false)]);
        }
        string actual = await _transfer.DownloadAsync(url, auth, destination, new ExpectedContent(null, sha256, null), source.ToString(), name, progress, ct)
            .ConfigureAwait(false);
        return new DownloadedModel(source, destination, null,
            [new DownloadedFile(name, destination, new FileInfo(destination).Length, actual, Downloaded: true)]);
    }

    private DownloadedModel CachedSingleFile(ModelSource source, string folder)
    {
        string? file = Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder).FirstOrDefault(path => !path.EndsWith(".incomplete", StringComparison.Ordinal))
            : null;
        if (file is null)
            throw new ModelDownloadException(source.ToString(), DownloadFailure.NotInCache, $"downloads are off (HF_HUB_OFFLINE) and {folder} holds no finished download.");
        long size = new FileInfo(file).Length;
        return new DownloadedModel(source, file, null, [new DownloadedFile(Path.GetFileName(file), file, size, null, Downloaded: false)]);
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();
}
