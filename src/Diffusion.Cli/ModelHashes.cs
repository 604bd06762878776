using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;

namespace Diffusion.Cli;

/// <summary>
/// The hashes A1111 writes into an image's settings, so model sites and image browsers recognise the model: a
/// checkpoint's short hash (the first 10 hex digits of the SHA-256 of the file; for a diffusers folder, of its UNet or
/// transformer file) and a LoRA's (the first 12 of the SHA-256 of a .safetensors file's tensor data, after its header —
/// A1111's "addnet" hash). Full hashes are kept in <c>hashes.json</c> of the download cache, keyed by path, size and
/// modification time, so a multi-gigabyte file is read once, not per image.
/// </summary>
internal sealed class ModelHashes(string cacheFolder)
{
    private readonly string _file = Path.Combine(cacheFolder, "hashes.json");

    /// <summary>A1111's model hash of a checkpoint file or model folder; null when the folder has no UNet/transformer file.</summary>
    public string? ModelHash(string model)
    {
        string? file = File.Exists(model) ? model : DenoiserFile(model);
        return file is null ? null : Sha256(file, headerSkipped: false)[..10];
    }

    /// <summary>A1111's LoRA hash of a .safetensors file (or of the whole file for other formats).</summary>
    public string LoraHash(string path) =>
        Sha256(path, headerSkipped: path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))[..12];

    /// <summary>The file whose hash names a diffusers folder: the UNet's (or the transformer's) weights.</summary>
    internal static string? DenoiserFile(string folder)
    {
        foreach (string component in new[] { "unet", "transformer" })
        {
            string dir = Path.Combine(folder, component);
            if (!Directory.Exists(dir))
                continue;
            string onnx = Path.Combine(dir, "model.onnx");
            if (File.Exists(onnx))
                return onnx;
            var weights = Directory.GetFiles(dir, "*.safetensors");
            if (weights.Length == 1)
                return weights[0];
            var index = Directory.GetFiles(dir, "*.safetensors.index.json");
            if (index.Length == 1)
                return index[0];
        }
        return null;
    }

    private string Sha256(string path, bool headerSkipped)
    {
        var info = new FileInfo(path);
        string key = $"{(headerSkipped ? "addnet:" : "")}{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
        Dictionary<string, string> cache = Load();
        if (cache.TryGetValue(key, out string? known))
            return known;
        string hash = Compute(path, headerSkipped);
        cache[key] = hash;
        Save(cache);
        return hash;
    }

    private static string Compute(string path, bool headerSkipped)
    {
        using FileStream stream = File.OpenRead(path);
        if (headerSkipped)
        {
            Span<byte> length = stackalloc byte[8];
            stream.ReadExactly(length);
            ulong header = BinaryPrimitives.ReadUInt64LittleEndian(length);
            if (header > (ulong)stream.Length - 8)
                throw new InvalidDataException($"{path}: the safetensors header length {header} runs past the end of the file.");
            stream.Position = 8 + (long)header;
        }
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private Dictionary<string, string> Load()
    {
        try
        {
            if (File.Exists(_file) && new FileInfo(_file).Length < 16 << 20)
                return JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(_file)) ?? [];
        }
        catch (JsonException)
        {
            // A damaged cache only costs re-hashing; it is rewritten below.
        }
        return [];
    }

    private void Save(Dictionary<string, string> cache)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_file)!);
            string temporary = $"{_file}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temporary, JsonSerializer.Serialize(cache));
            File.Move(temporary, _file, overwrite: true);
        }
        catch (IOException ex)
        {
            ConsoleOutput.Warning($"could not update the hash cache {_file}: {ex.Message}");
        }
        catch (UnauthorizedAccessException ex)
        {
            ConsoleOutput.Warning($"could not update the hash cache {_file}: {ex.Message}");
        }
    }
}
