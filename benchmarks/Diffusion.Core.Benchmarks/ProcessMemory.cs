namespace Diffusion.Core.Benchmarks;

/// <summary>
/// Resident-memory figures of this process from <c>/proc/self/status</c> (Linux): <c>VmHWM</c> is the peak
/// resident set size, <c>VmRSS</c> the current one. Elsewhere every figure reads as 0.
/// </summary>
public static class ProcessMemory
{
    /// <summary>Peak resident set size so far (or since the last <see cref="TryResetPeak"/>), in MiB.</summary>
    public static double PeakResidentMiB() => ReadKiB("VmHWM:") / 1024.0;

    /// <summary>Current resident set size, in MiB.</summary>
    public static double ResidentMiB() => ReadKiB("VmRSS:") / 1024.0;

    /// <summary>
    /// Resets the peak to the current resident size (writes 5 to <c>/proc/self/clear_refs</c>, Linux ≥ 4.0),
    /// so the next <see cref="PeakResidentMiB"/> is the peak of what ran in between. False when not possible.
    /// </summary>
    public static bool TryResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long ReadKiB(string key)
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path))
            return 0;
        foreach (string line in File.ReadLines(path))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                string value = line.AsSpan(key.Length).Trim().ToString();
                int space = value.IndexOf(' ');
                return long.Parse(space < 0 ? value : value[..space], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }
}
