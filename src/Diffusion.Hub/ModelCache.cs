using System.Globalization;

namespace Diffusion.Hub;

/// <summary>What the caches hold (the hub cache, shared with Python tools, and the Civitai/URL downloads) and removing it.</summary>
public sealed class ModelCache(ModelDownloaderOptions options)
{
    private readonly HubCacheLayout _layout = new(options.HubCache);

    /// <summary>Every cached model: hub repositories, Civitai versions, URL downloads.</summary>
    public IReadOnlyList<CachedModel> List()
    {
        var models = new List<CachedModel>();
        if (Directory.Exists(options.HubCache))
        {
            foreach (string folder in Directory.EnumerateDirectories(options.HubCache, "models--*").Order(StringComparer.Ordinal))
            {
                string[] parts = System.IO.Path.GetFileName(folder)["models--".Length..].Split("--");
                if (parts.Length != 2)
                    continue;
                string refs = System.IO.Path.Combine(folder, "refs");
                var revisions = Directory.Exists(refs)
                    ? Directory.EnumerateFiles(refs, "*", SearchOption.AllDirectories)
                        .Select(f => $"{System.IO.Path.GetRelativePath(refs, f).Replace('\\', '/')} → {SafeRead(f)}").Order(StringComparer.Ordinal).ToList()
                    : [];
                models.Add(new CachedModel($"hf:{parts[0]}/{parts[1]}", folder, FolderBytes(System.IO.Path.Combine(folder, "blobs")), revisions));
            }
        }
        AddSingleFiles(models, "civitai", id => $"civitai:{id}");
        AddSingleFiles(models, "urls", key => $"url download {key}");
        return models;
    }

    /// <summary>Deletes what <paramref name="source"/> names from the cache; false when it held nothing of it.</summary>
    public bool Remove(ModelSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        string folder = source switch
        {
            HuggingFaceSource hub => _layout.RepositoryFolder(hub.Repository),
            CivitaiSource civitai => System.IO.Path.Combine(options.DownloadCache, "civitai", civitai.ModelVersionId.ToString(CultureInfo.InvariantCulture)),
            UrlSource url => System.IO.Path.GetDirectoryName(ModelDownloader.UrlDestination(options, url))!,
            _ => throw new ArgumentException($"Unknown source type {source.GetType().Name}.", nameof(source)),
        };
        if (!Directory.Exists(folder))
            return false;
        Directory.Delete(folder, recursive: true);
        return true;
    }

    private void AddSingleFiles(List<CachedModel> models, string kind, Func<string, string> name)
    {
        string root = System.IO.Path.Combine(options.DownloadCache, kind);
        if (!Directory.Exists(root))
            return;
        foreach (string folder in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var files = Directory.EnumerateFiles(folder).Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
            models.Add(new CachedModel(name(System.IO.Path.GetFileName(folder)), folder, FolderBytes(folder), files));
        }
    }

    private static long FolderBytes(string folder) =>
        Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) : 0;

    private static string SafeRead(string path)
    {
        try
        {
            return new FileInfo(path).Length <= 256 ? File.ReadAllText(path).Trim() : "?";
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
