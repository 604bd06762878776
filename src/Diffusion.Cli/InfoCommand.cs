using System.CommandLine;
using Diffusion.Core;
using Diffusion.Core.Inspection;
using Diffusion.Core.Models;
using Diffusion.Hub;
using Spectre.Console;

namespace Diffusion.Cli;

/// <summary><c>diffusion info PATH</c>: what a folder, checkpoint or LoRA holds (family, components, sizes, dtypes, inputs).</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("PATH") { Description = "a model folder, .safetensors or .onnx file, or a download source already in the cache" };
        var io = new Option<bool>("--io") { Description = "also list the inputs and outputs of ONNX files (creates a session per file: slow for large models)" };
        var command = new Command("info", "Show what a model folder, checkpoint or LoRA holds.") { path, io };
        command.SetAction(parsed => Run(parsed.GetValue(path)!, parsed.GetValue(io)));
        return command;
    }

    private static int Run(string path, bool io)
    {
        try
        {
            if (ModelLocator.IsSource(path))
            {
                // Only what the cache holds: `info` never downloads.
                var options = ModelDownloaderOptions.FromEnvironment();
                options = new ModelDownloaderOptions { HubCache = options.HubCache, DownloadCache = options.DownloadCache, Offline = true };
                using var downloader = new ModelDownloader(options);
                path = downloader.DownloadAsync(ModelSource.Parse(path)).GetAwaiter().GetResult().Path;
            }
            ModelInspection inspection = ModelInspector.Inspect(path, io);
            Print(inspection);
            return 0;
        }
        catch (Exception ex) when (ex is DiffusionException or ModelDownloadException or ArgumentException or IOException)
        {
            return ConsoleOutput.Error(ex.Message);
        }
    }

    private static void Print(ModelInspection inspection)
    {
        ConsoleOutput.Line($"{inspection.Path}");
        ConsoleOutput.Line($"  kind:   {inspection.Kind}");
        ConsoleOutput.Line($"  family: {inspection.Family?.Name ?? "not recognised"}");
        foreach (string note in inspection.Notes)
            ConsoleOutput.Line($"  note:   {note}");
        var table = new Table().AddColumns("component", "format", "size", "tensors", "parameters", "dtypes");
        foreach (ComponentInspection component in inspection.Components)
        {
            table.AddRow(Markup.Escape(component.Name), component.Format, ConsoleOutput.Size(component.Bytes),
                component.Tensors?.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) ?? "",
                component.Parameters is long p ? Parameters(p) : "",
                Markup.Escape(string.Join(" ", component.DTypes.Select(d => $"{d.Key}×{d.Value}"))));
        }
        if (ConsoleOutput.Interactive)
            AnsiConsole.Write(table);
        else
            foreach (ComponentInspection c in inspection.Components)
                ConsoleOutput.Line($"  {c.Name}: {c.Format}, {ConsoleOutput.Size(c.Bytes)}{(c.Tensors is long t ? $", {t} tensors" : "")}{(c.Parameters is long n ? $", {Parameters(n)} parameters" : "")}{(c.DTypes.Count > 0 ? ", " + string.Join(" ", c.DTypes.Select(d => $"{d.Key}×{d.Value}")) : "")}");
        foreach (ComponentInspection component in inspection.Components.Where(c => c.Inputs is not null))
        {
            ConsoleOutput.Line($"  {component.Name} inputs:  {string.Join(", ", component.Inputs!.Select(Describe))}");
            ConsoleOutput.Line($"  {component.Name} outputs: {string.Join(", ", component.Outputs!.Select(Describe))}");
        }
    }

    private static string Describe(TensorSpec spec) => spec.ToString();

    private static string Parameters(long count) => count switch
    {
        >= 1_000_000_000 => $"{count / 1e9:F2} B",
        >= 1_000_000 => $"{count / 1e6:F1} M",
        >= 1_000 => $"{count / 1e3:F1} K",
        _ => count.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
