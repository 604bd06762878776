using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Execution;

/// <summary>
/// Optimised graphs ONNX Runtime wrote for earlier sessions (<c>SessionOptions.OptimizedModelFilePath</c>, weights as one
/// external-data file), reused so that a later load skips graph optimisation and, without pre-packing, maps the float32
/// weights from the cache instead of reading and converting the model again.
/// </summary>
/// <remarks>
/// An entry is a folder named by a key over everything that shapes the optimised graph: the model's identity (path,
/// length, modification time and a hash of the first and last MiB of the model file and of each weight file it reads),
/// ONNX Runtime's version, the provider, the resolved optimisation level, the session configuration entries and the
/// CPU's instruction-set features (level ALL's layouts are hardware-specific). A changed model, option or machine gives
/// another key. Each entry has a manifest with every file's length and XxHash3; an entry whose files do not match it
/// (truncated, corrupted, half-deleted) is deleted and rebuilt. Entries are written to a temporary folder and renamed
/// into place, so a crash or a full disk leaves no half-written entry behind.
/// </remarks>
internal static class OptimizedModelCache
{
    /// <summary>What the last session created on this thread did with the cache (tests check hits and rebuilds).</summary>
    [ThreadStatic]
    internal static CacheOutcome LastOutcome;

    private const int FormatVersion = 1;
    internal const string GraphFile = "model.onnx";
    internal const string DataFile = "model.onnx.data";
    internal const string ManifestFile = "manifest.json";
    private const int EdgeBytes = 1 << 20;

    /// <summary>The entry folder for this model and these options under <paramref name="root"/>.</summary>
    public static string EntryFor(string root, ModelSource source, SessionSettings settings, GraphOptimizationLevel level)
    {
        var text = new StringBuilder();
        text.Append("format ").Append(FormatVersion).Append('\n');
        text.Append("onnxruntime ").Append(OrtEnv.Instance().GetVersionString()).Append('\n');
        text.Append("provider ").Append(settings.Provider.Kind).Append(':').Append(settings.Provider.DeviceId).Append('\n');
        text.Append("level ").Append(level).Append('\n');
        foreach (KeyValuePair<string, string> entry in (settings.SessionConfigEntries ?? new Dictionary<string, string>()).OrderBy(e => e.Key, StringComparer.Ordinal))
            text.Append("config ").Append(entry.Key).Append('=').Append(entry.Value).Append('\n');
        text.Append("cpu ").Append(CpuFeatures()).Append('\n');
        AppendIdentity(text, source);
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()));
        return Path.Combine(root, Convert.ToHexString(hash.AsSpan(0, 16)).ToLowerInvariant());
    }

    /// <summary>Whether the entry exists and every file matches its manifest; a mismatching entry is deleted.</summary>
    public static bool IsValid(string entry)
    {
        if (!Directory.Exists(entry))
            return false;
        try
        {
            Manifest? manifest = JsonSerializer.Deserialize<Manifest>(File.ReadAllBytes(Path.Combine(entry, ManifestFile)));
            if (manifest is { Version: FormatVersion, Files.Count: > 0 }
                && manifest.Files.All(f => f.Name is GraphFile or DataFile && Matches(Path.Combine(entry, f.Name), f)))
                return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            // unreadable: rebuilt below
        }
        TryDelete(entry);
        return false;
    }

    /// <summary>
    /// A fresh temporary folder beside the entry for ONNX Runtime to write into. Temporary folders of this entry left by a
    /// process that no longer runs (killed mid-write) are removed first.
    /// </summary>
    public static string Begin(string entry)
    {
        string prefix = Path.GetFileName(entry) + ".tmp-";
        foreach (string stale in Directory.EnumerateDirectories(Path.GetDirectoryName(entry)!, prefix + "*"))
        {
            string rest = Path.GetFileName(stale)[prefix.Length..];
            if (int.TryParse(rest.Split('-')[0], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && !IsRunning(pid))
                TryDelete(stale);
        }
        string temporary = $"{entry}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(temporary);
        return temporary;
    }

    /// <summary>
    /// Writes the manifest of what ONNX Runtime wrote into <paramref name="temporary"/> and renames it to
    /// <paramref name="entry"/>; on any failure (a full disk, another process first) the temporary folder is removed
    /// and false returned.
    /// </summary>
    public static bool Commit(string temporary, string entry)
    {
        try
        {
            var files = new List<FileRecord>();
            foreach (string name in new[] { GraphFile, DataFile })
            {
                string path = Path.Combine(temporary, name);
                if (File.Exists(path))
                    files.Add(new FileRecord(name, new FileInfo(path).Length, HashFile(path)));
            }
            if (files.Count == 0 || files[0].Name != GraphFile)
                throw new IOException("ONNX Runtime wrote no optimised graph.");
            File.WriteAllBytes(Path.Combine(temporary, ManifestFile), JsonSerializer.SerializeToUtf8Bytes(new Manifest(FormatVersion, files)));
            Directory.Move(temporary, entry);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The session works without the entry; the next load tries again.
            TryDelete(temporary);
            return false;
        }
    }

    public static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool Matches(string path, FileRecord record)
    {
        var info = new FileInfo(path);
        return info.Exists && info.Length == record.Length && HashFile(path) == record.XxHash3;
    }

    private static ulong HashFile(string path)
    {
        var hash = new XxHash3();
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        hash.Append(stream);
        return hash.GetCurrentHashAsUInt64();
    }

    private static void AppendIdentity(StringBuilder text, ModelSource source)
    {
        if (source.FilePath is string path)
        {
            var file = new FileInfo(path);
            AppendFile(text, file);
            foreach (FileInfo sibling in file.Directory!.EnumerateFiles().OrderBy(f => f.Name, StringComparer.Ordinal))
                if (sibling.Name != file.Name && ModelSource.IsWeightFile(sibling))
                    AppendFile(text, sibling);
            return;
        }
        // A built graph: its bytes name every weight file (with offsets and shapes); those files' identities follow.
        byte[] graph = source.Graph!;
        text.Append("graph ").Append(XxHash128.HashToUInt128(graph).ToString(CultureInfo.InvariantCulture)).Append('\n');
        if (source.ExternalDataFolder is string folder && Directory.Exists(folder))
        {
            foreach (FileInfo candidate in new DirectoryInfo(folder).EnumerateFiles().OrderBy(f => f.Name, StringComparer.Ordinal))
                if (graph.AsSpan().IndexOf(Encoding.UTF8.GetBytes(candidate.Name)) >= 0)
                    AppendFile(text, candidate);
        }
    }

    private static void AppendFile(StringBuilder text, FileInfo file)
    {
        text.Append("file ").Append(file.FullName).Append(' ').Append(file.Length).Append(' ')
            .Append(file.LastWriteTimeUtc.Ticks).Append(' ').Append(EdgeHash(file)).Append('\n');
    }

    /// <summary>XxHash3 of the first and last MiB: cheap, and catches a file rewritten within the same second and size.</summary>
    private static ulong EdgeHash(FileInfo file)
    {
        using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var hash = new XxHash3();
        byte[] buffer = new byte[(int)Math.Min(EdgeBytes, file.Length)];
        stream.ReadExactly(buffer);
        hash.Append(buffer);
        if (file.Length > EdgeBytes)
        {
            stream.Seek(-Math.Min(EdgeBytes, file.Length - EdgeBytes), SeekOrigin.End);
            int tail = (int)Math.Min(EdgeBytes, file.Length - EdgeBytes);
            stream.ReadExactly(buffer.AsSpan(0, tail));
            hash.Append(buffer.AsSpan(0, tail));
        }
        return hash.GetCurrentHashAsUInt64();
    }

    private static string CpuFeatures()
    {
        var features = new List<string> { RuntimeInformation.ProcessArchitecture.ToString() };
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) features.Add("avx2");
        if (System.Runtime.Intrinsics.X86.Fma.IsSupported) features.Add("fma");
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported) features.Add("avx512f");
        if (System.Runtime.Intrinsics.X86.Avx512BW.IsSupported) features.Add("avx512bw");
        if (System.Runtime.Intrinsics.X86.Avx512Vbmi.IsSupported) features.Add("avx512vbmi");
        if (System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported) features.Add("neon");
        if (System.Runtime.Intrinsics.Arm.Dp.IsSupported) features.Add("dotprod");
        return string.Join(',', features);
    }

    internal enum CacheOutcome
    {
        None,
        Hit,
        Written,
    }

    private sealed record Manifest(int Version, List<FileRecord> Files);

    private sealed record FileRecord(string Name, long Length, ulong XxHash3);
}
