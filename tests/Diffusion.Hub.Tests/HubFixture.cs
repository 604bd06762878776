using Diffusion.Testing;
namespace Diffusion.Hub.Tests;

/// <summary>A fake server, a temporary cache and a downloader pointed at both; disposed at the end of each test.</summary>
internal sealed class HubFixture : IDisposable
{
    public const string HubToken = "hf_secret_token_value_123";
    public const string CivitaiToken = "civitai-secret-token-456";

    public HubFixture()
    {
        Root = Directory.CreateTempSubdirectory("diffusion-hub-tests-").FullName;
        Server.Files["model_index.json"] = ("{\"_class_name\": \"StableDiffusionPipeline\"}"u8.ToArray(), false);
        Server.Files["unet/config.json"] = ("{\"sample_size\": 8}"u8.ToArray(), false);
        Server.Files["unet/model.onnx"] = (Bytes(300_000, seed: 1), true);
        Server.Files["vae_decoder/model.onnx"] = (Bytes(120_000, seed: 2), true);
    }

    public FakeModelServer Server { get; } = new();

    public string Root { get; }

    public string HubCache => Path.Combine(Root, "hub");

    public string RepositoryFolder => Path.Combine(HubCache, "models--owner--model");

    public ModelDownloaderOptions Options(bool offline = false, int retries = 3, int parallel = 4, string? hubToken = HubToken) => new()
    {
        HubCache = HubCache,
        DownloadCache = Path.Combine(Root, "downloads"),
        HubEndpoint = Server.Origin,
        CivitaiEndpoint = Server.Origin,
        HubToken = hubToken,
        CivitaiToken = CivitaiToken,
        Offline = offline,
        MaxRetries = retries,
        MaxParallelDownloads = parallel,
        RetryDelay = TimeSpan.FromMilliseconds(5),
        StallTimeout = TimeSpan.FromSeconds(10),
    };

    public Task<DownloadedModel> DownloadAsync(string source, ModelDownloaderOptions? options = null, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        var downloader = new ModelDownloader(options ?? Options());
        return Run();

        async Task<DownloadedModel> Run()
        {
            using (downloader)
                return await downloader.DownloadAsync(ModelSource.Parse(source), progress, ct);
        }
    }

    /// <summary>Every file under the cache, relative, '/'-separated.</summary>
    public IReadOnlyList<string> CacheEntries() => Directory.Exists(Root)
        ? [.. Directory.EnumerateFileSystemEntries(Root, "*", SearchOption.AllDirectories).Where(p => !Directory.Exists(p) || new DirectoryInfo(p).LinkTarget is not null)
            .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/')).Order(StringComparer.Ordinal)]
        : [];

    /// <summary>Deterministic test content, the same formula as tools/reference-data/hub-cache/expected_cache_tree.py.</summary>
    public static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++)
            data[i] = (byte)((i * 31 + seed * 17 + i / 251) % 251);
        return data;
    }

    public void Dispose()
    {
        Server.Dispose();
        Directory.Delete(Root, recursive: true);
    }
}
