namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// Appends measured errors to the file named by SCHEDULER_ERROR_LOG when that variable is set (used to report the
/// tolerance actually achieved); does nothing otherwise.
/// </summary>
internal static class ErrorLog
{
    private static readonly Lock s_lock = new();

    public static void Record(string name, IEnumerable<(string What, double Error)> errors)
    {
        string? path = Environment.GetEnvironmentVariable("SCHEDULER_ERROR_LOG");
        if (string.IsNullOrEmpty(path))
            return;
        string line = name + " " + string.Join(" ", errors.Select(e => $"{e.What}={e.Error:E2}")) + Environment.NewLine;
        lock (s_lock)
            File.AppendAllText(path, line);
    }
}
