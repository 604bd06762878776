using System.Collections.Concurrent;
using Diffusion.Hub;
using Spectre.Console;

namespace Diffusion.Cli;

/// <summary>Runs a download with a bar per file on a terminal (size, speed, time left), or a line per finished file otherwise.</summary>
internal static class DownloadRunner
{
    public static DownloadedModel Download(ModelSource source, ModelDownloaderOptions options, CancellationToken ct)
    {
        using var downloader = new ModelDownloader(options);
        if (!ConsoleOutput.Interactive)
        {
            var finished = new ConcurrentDictionary<string, bool>();
            var lines = new SynchronousProgress(p =>
            {
                if ((p.FromCache || p.BytesDone == p.BytesTotal) && finished.TryAdd(p.File, true))
                    ConsoleOutput.Line($"{(p.FromCache ? "in cache" : "fetched")} {p.File} ({ConsoleOutput.Size(p.BytesDone)})");
            });
            return downloader.DownloadAsync(source, lines, ct).GetAwaiter().GetResult();
        }
        DownloadedModel? model = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var tasks = new ConcurrentDictionary<string, ProgressTask>();
                var bars = new SynchronousProgress(p =>
                {
                    ProgressTask task = tasks.GetOrAdd(p.File, file => context.AddTask(Markup.Escape(file), maxValue: Math.Max(1, p.BytesTotal ?? 1)));
                    if (p.BytesTotal is long total)
                        task.MaxValue = Math.Max(1, total);
                    task.Value = p.FromCache ? task.MaxValue : p.BytesDone;
                });
                model = downloader.DownloadAsync(source, bars, ct).GetAwaiter().GetResult();
            });
        return model!;
    }

    /// <summary>Reports on the downloading thread (Progress&lt;T&gt; would post later and out of order).</summary>
    private sealed class SynchronousProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
