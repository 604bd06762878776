using System.CommandLine;
using Diffusion.Hub;
using Spectre.Console;

namespace Diffusion.Cli;

/// <summary><c>diffusion models download|list|remove</c>: the download caches (the hub's is shared with Python tools).</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SOURCE") { Description = "hf:owner/name[@revision][:subfolder], civitai:MODEL_VERSION_ID or an https:// address" };
        var sha256 = new Option<string?>("--sha256") { Description = "for an https:// source: the file's SHA-256, checked before the file is kept" };
        var download = new Command("download", "Download a model (or find it in the cache) and print where it is.") { source, sha256 };
        download.SetAction((parsed, ct) => Task.FromResult(Download(parsed.GetValue(source)!, parsed.GetValue(sha256), ct)));

        var list = new Command("list", "List the cached models.");
        list.SetAction(_ => List());

        var removeSource = new Argument<string>("SOURCE") { Description = "the source the model was downloaded from" };
        var remove = new Command("remove", "Delete a cached model.") { removeSource };
        remove.SetAction(parsed => Remove(parsed.GetValue(removeSource)!));

        return new Command("models", "Download, list and remove models.") { download, list, remove };
    }

    private static int Download(string text, string? sha256, CancellationToken ct)
    {
        try
        {
            ModelSource source = ModelSource.Parse(text);
            if (sha256 is not null)
            {
                if (source is not UrlSource url)
                    throw new ArgumentException("--sha256 applies to https:// sources; the hub and Civitai publish their own hashes.");
                if (sha256.Length != 64 || !sha256.All(Uri.IsHexDigit))
                    throw new ArgumentException($"--sha256 '{sha256}' is not 64 hex digits.");
                source = url with { Sha256 = sha256.ToLowerInvariant() };
            }
            DownloadedModel model = DownloadRunner.Download(source, ModelDownloaderOptions.FromEnvironment(), ct);
            int fetched = model.Files.Count(f => f.Downloaded);
            ConsoleOutput.Line($"{source}: {model.Files.Count} files ({fetched} downloaded, {model.Files.Count - fetched} from the cache), {ConsoleOutput.Size(model.Files.Sum(f => f.Size))}");
            ConsoleOutput.Line(model.Path);
            return 0;
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 2;
        }
        catch (ModelDownloadException ex)
        {
            return ConsoleOutput.Error(ex.Message);
        }
        catch (OperationCanceledException)
        {
            return ConsoleOutput.Error("cancelled; the partial files are kept and the next download resumes them.");
        }
    }

    private static int List()
    {
        var options = ModelDownloaderOptions.FromEnvironment();
        IReadOnlyList<CachedModel> models = new ModelCache(options).List();
        if (models.Count == 0)
        {
            ConsoleOutput.Line($"No cached models (hub cache {options.HubCache}, downloads {options.DownloadCache}).");
            return 0;
        }
        if (ConsoleOutput.Interactive)
        {
            var table = new Table().AddColumns("source", "size", "revisions / files", "path");
            foreach (CachedModel model in models)
                table.AddRow(Markup.Escape(model.Source), ConsoleOutput.Size(model.Bytes), Markup.Escape(string.Join("\n", model.Revisions)), Markup.Escape(model.Path));
            AnsiConsole.Write(table);
        }
        else
        {
            foreach (CachedModel model in models)
                ConsoleOutput.Line($"{model.Source}\t{ConsoleOutput.Size(model.Bytes)}\t{string.Join("; ", model.Revisions)}\t{model.Path}");
        }
        return 0;
    }

    private static int Remove(string text)
    {
        ModelSource source;
        try
        {
            source = ModelSource.Parse(text);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 2;
        }
        if (!new ModelCache(ModelDownloaderOptions.FromEnvironment()).Remove(source))
            return ConsoleOutput.Error($"{source}: not in the cache.");
        ConsoleOutput.Line($"Removed {source}.");
        return 0;
    }
}
