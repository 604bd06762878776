using Spectre.Console;

namespace Diffusion.Cli;

/// <summary>
/// Where the tool writes: Spectre.Console bars and tables on a terminal; plain lines when output is redirected (a
/// script, a log, the tests), so every line is still there to read.
/// </summary>
internal static class ConsoleOutput
{
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public static void Line(string text) => Console.Out.WriteLine(text);

    public static int Error(string text)
    {
        Console.Error.WriteLine($"error: {text}");
        return 1;
    }

    public static void Warning(string text) => Console.Error.WriteLine($"warning: {text}");

    /// <summary>Bytes as KB/MB/GB (powers of 1024, as the hub and Civitai show sizes).</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:F1} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):F1} MiB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):F2} GiB",
    };
}
