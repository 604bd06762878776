using System.Text.Json;
using Diffusion.Core.Models;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Finds a component's safetensors weights in a diffusers / transformers folder, by the file stem the library uses
/// (<c>model</c> for transformers, <c>diffusion_pytorch_model</c> for diffusers): <c>{stem}.safetensors</c>, else the
/// shards <c>{stem}.safetensors.index.json</c> lists, else the same two with the <c>.fp16</c> variant infix.
/// </summary>
internal static class CheckpointFiles
{
    /// <summary>The weight files of <paramref name="stem"/> in <paramref name="folder"/>.</summary>
    /// <exception cref="ModelLoadException">None is there, or the index is malformed or names a file outside the folder or missing.</exception>
    public static IReadOnlyList<string> Find(string folder, string stem)
        => FindEntry(folder, stem) switch
        {
            null => throw new ModelLoadException(folder, $"no {stem}.safetensors (nor {stem}.safetensors.index.json, nor their .fp16 variants) in the folder."),
            string index when index.EndsWith(".index.json", StringComparison.Ordinal) => ReadIndex(index, folder),
            string single => [single],
        };

    /// <summary>
    /// The first of the candidate files that exists (<c>{stem}.safetensors</c>, its index, their <c>.fp16</c> variants),
    /// without reading it; null when there is none. Says which file a folder's component will be built from.
    /// </summary>
    public static string? FindEntry(string folder, string stem)
    {
        foreach (string variant in (string[])["", ".fp16"])
        {
            foreach (string suffix in (string[])[".safetensors", ".safetensors.index.json"])
            {
                string path = Path.Combine(folder, stem + variant + suffix);
                if (File.Exists(path))
                    return path;
            }
        }
        return null;
    }

    /// <summary>Whether <paramref name="path"/> names safetensors weights (a file or a shard index) rather than an ONNX model.</summary>
    public static bool IsCheckpoint(string path)
        => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".safetensors.index.json", StringComparison.OrdinalIgnoreCase);

    /// <summary>The distinct shard files of an index's <c>weight_map</c>, in first-use order.</summary>
    private static List<string> ReadIndex(string index, string folder)
    {
        using JsonDocument document = ModelFolderJson.ParseJson(index);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            throw new ModelLoadException(index, "weight_map must be an object mapping tensor names to shard files.");
        var files = new List<string>();
        foreach (JsonProperty entry in map.EnumerateObject())
        {
            string? shard = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString() : null;
            // An untrusted index must not reach outside its folder: a shard is a plain file name.
            if (string.IsNullOrEmpty(shard) || shard != Path.GetFileName(shard) || shard is "." or ".." || !shard.EndsWith(".safetensors", StringComparison.Ordinal))
                throw new ModelLoadException(index, $"weight_map['{entry.Name}'] must be a .safetensors file name in the same folder, was '{entry.Value}'.");
            string path = Path.Combine(folder, shard);
            if (!files.Contains(path))
            {
                if (!File.Exists(path))
                    throw new ModelLoadException(index, $"the shard '{shard}' (holding '{entry.Name}') is not in {folder}.");
                files.Add(path);
            }
        }
        if (files.Count == 0)
            throw new ModelLoadException(index, "weight_map is empty.");
        return files;
    }
}
