using System.Globalization;

namespace Diffusion.Core.Execution;

/// <summary>
/// How much memory this process can still take: the smaller of the kernel's <c>MemAvailable</c> and what the process's
/// control group (a container's limit, cgroup v2 or v1) leaves below its limit; elsewhere than Linux, .NET's view of the
/// machine (or container) less this process's working set.
/// </summary>
/// <param name="Bytes">Bytes available.</param>
/// <param name="Source">Where the figure came from, for the log (<c>MemAvailable 20.3 GiB; cgroup limit 8.0 GiB, 1.2 GiB used</c>).</param>
public sealed record AvailableMemory(long Bytes, string Source)
{
    private const long Unlimited = 1L << 60; // cgroup v1 writes ~2^63 for "no limit"

    /// <summary>Reads the memory available now.</summary>
    public static AvailableMemory Read() => OperatingSystem.IsLinux() ? ReadLinux("/") ?? FromRuntime() : FromRuntime();

    /// <summary>Reads <c>proc/meminfo</c>, <c>proc/self/cgroup</c> and <c>sys/fs/cgroup/…</c> under <paramref name="root"/>; null when nothing is readable.</summary>
    internal static AvailableMemory? ReadLinux(string root)
    {
        long? memAvailable = ReadMemAvailable(Path.Combine(root, "proc", "meminfo"));
        (long Limit, long Used)? cgroup = ReadCgroup(root);
        if (memAvailable is null && cgroup is null)
            return null;
        var sources = new List<string>(2);
        long bytes = long.MaxValue;
        if (memAvailable is long available)
        {
            bytes = available;
            sources.Add($"MemAvailable {Gib(available)}");
        }
        if (cgroup is (long limit, long used))
        {
            bytes = Math.Min(bytes, Math.Max(0, limit - used));
            sources.Add($"cgroup limit {Gib(limit)}, {Gib(used)} used");
        }
        return new AvailableMemory(bytes, string.Join("; ", sources));
    }

    internal static string Gib(long bytes) => (bytes / (double)(1L << 30)).ToString("F1", CultureInfo.InvariantCulture) + " GiB";

    private static AvailableMemory FromRuntime()
    {
        long total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        long bytes = Math.Max(0, total - Environment.WorkingSet);
        return new AvailableMemory(bytes, $".NET's total available memory {Gib(total)} less this process's working set");
    }

    private static long? ReadMemAvailable(string path)
    {
        string[]? lines = TryReadLines(path);
        if (lines is null)
            return null;
        foreach (string line in lines)
        {
            // "MemAvailable:   20312344 kB"
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                continue;
            string[] parts = line["MemAvailable:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kib) ? kib * 1024 : null;
        }
        return null;
    }

    /// <summary>The limit and usage of the tightest limited control group this process is in (its own or an ancestor's).</summary>
    private static (long Limit, long Used)? ReadCgroup(string root)
    {
        string[]? membership = TryReadLines(Path.Combine(root, "proc", "self", "cgroup"));
        if (membership is null)
            return null;
        (long Limit, long Used)? tightest = null;
        foreach (string line in membership)
        {
            // v2: "0::/user.slice/session.scope"; v1: "7:memory:/docker/abc"
            string[] fields = line.Split(':', 3);
            if (fields.Length != 3)
                continue;
            bool v2 = fields[0] == "0" && fields[1].Length == 0;
            bool v1 = fields[1].Split(',').Contains("memory");
            if (!v2 && !v1)
                continue;
            string mount = v2 ? Path.Combine(root, "sys", "fs", "cgroup") : Path.Combine(root, "sys", "fs", "cgroup", "memory");
            (string limitFile, string usageFile) = v2 ? ("memory.max", "memory.current") : ("memory.limit_in_bytes", "memory.usage_in_bytes");
            // A limit may be set on any ancestor: walk from the process's group up to the mount's root.
            string relative = fields[2].Trim('/');
            while (true)
            {
                string folder = relative.Length == 0 ? mount : Path.Combine(mount, relative);
                if (ReadNumber(Path.Combine(folder, limitFile)) is long limit && limit < Unlimited
                    && ReadNumber(Path.Combine(folder, usageFile)) is long used
                    && (tightest is null || limit - used < tightest.Value.Limit - tightest.Value.Used))
                {
                    tightest = (limit, used);
                }
                if (relative.Length == 0)
                    break;
                int slash = relative.LastIndexOf('/');
                relative = slash < 0 ? string.Empty : relative[..slash];
            }
        }
        return tightest;
    }

    private static long? ReadNumber(string path)
    {
        string[]? lines = TryReadLines(path);
        return lines is [string first, ..] && long.TryParse(first.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value : null; // "max" → null
    }

    private static string[]? TryReadLines(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllLines(path) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
