using Diffusion.Hub;

namespace Diffusion.Cli;

/// <summary>
/// Turns a <c>--model</c> value into a local path: a file or folder as given, or a download source
/// (<c>hf:…</c>, <c>civitai:…</c>, <c>https://…</c>) fetched into the cache first (or found there).
/// </summary>
internal static class ModelLocator
{
    public static bool IsSource(string text) =>
        text.StartsWith("hf:", StringComparison.Ordinal) || text.StartsWith("civitai:", StringComparison.Ordinal)
        || text.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("http://", StringComparison.OrdinalIgnoreCase);

    /// <summary>The local path of <paramref name="model"/>; throws <see cref="ArgumentException"/> or <see cref="ModelDownloadException"/>.</summary>
    public static string Resolve(string model, CancellationToken ct)
    {
        if (!IsSource(model))
        {
            if (File.Exists(model) || Directory.Exists(model))
                return model;
            throw new ArgumentException($"--model {model}: no such file or folder (a download is written hf:owner/name, civitai:VERSION_ID or https://…).");
        }
        ModelSource source = ModelSource.Parse(model);
        DownloadedModel downloaded = DownloadRunner.Download(source, ModelDownloaderOptions.FromEnvironment(), ct);
        ConsoleOutput.Line($"Model {source}: {downloaded.Path}");
        return downloaded.Path;
    }
}
