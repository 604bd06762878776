using System.Text.Json;
using Diffusion.Core.Models;

namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// Typed, bounded reads of a diffusers / transformers <c>config.json</c>: every field is checked before it sizes a
/// graph, and a bad one is a <see cref="ModelLoadException"/> naming the file and the field.
/// </summary>
internal sealed class ConfigFields : IDisposable
{
    private readonly JsonDocument _document;

    private ConfigFields(string path, JsonDocument document)
    {
        Path = path;
        _document = document;
    }

    public string Path { get; }

    /// <exception cref="ModelLoadException">The file is missing, unreadable, not JSON or not an object.</exception>
    public static ConfigFields Read(string path)
    {
        if (!File.Exists(path))
            throw new ModelLoadException(path, "config file not found.");
        JsonDocument document = ModelFolderJson.ParseJson(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new ModelLoadException(path, "must hold a JSON object.");
        }
        return new ConfigFields(path, document);
    }

    private JsonElement? Field(string name)
        => _document.RootElement.TryGetProperty(name, out JsonElement value) && value.ValueKind != JsonValueKind.Null ? value : null;

    /// <summary>An integer from <paramref name="min"/> to <paramref name="max"/>; <paramref name="fallback"/> when absent (null: required).</summary>
    public int Int(string name, int min, int max, int? fallback = null)
    {
        if (Field(name) is not JsonElement value)
            return fallback ?? throw new ModelLoadException(Path, $"{name} is missing.");
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result) || result < min || result > max)
            throw new ModelLoadException(Path, $"{name} must be an integer from {min} to {max}, was {value.GetRawText()}.");
        return result;
    }

    /// <summary>A list of 1 (0 with <paramref name="allowEmpty"/>) to <paramref name="maxCount"/> integers, each from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public int[] Ints(string name, int maxCount, int min, int max, int[]? fallback = null, bool allowEmpty = false)
    {
        if (Field(name) is not JsonElement value)
            return fallback ?? throw new ModelLoadException(Path, $"{name} is missing.");
        int least = allowEmpty ? 0 : 1;
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() < least || value.GetArrayLength() > maxCount)
            throw new ModelLoadException(Path, $"{name} must be a list of {least} to {maxCount} integers, was {Shorten(value)}.");
        var result = new int[value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out result[i]) || result[i] < min || result[i] > max)
                throw new ModelLoadException(Path, $"{name}[{i}] must be an integer from {min} to {max}, was {Shorten(item)}.");
            i++;
        }
        return result;
    }

    /// <summary>Whether the field is present and not null.</summary>
    public bool Has(string name) => Field(name) is not null;

    /// <summary>
    /// One integer for every level, written as one number or a list of <paramref name="levels"/> numbers (diffusers
    /// accepts both).
    /// </summary>
    public int[] IntOrList(string name, int levels, int min, int max, int fallback)
    {
        if (Field(name) is JsonElement { ValueKind: JsonValueKind.Array })
        {
            int[] values = Ints(name, levels, min, max);
            if (values.Length != levels)
                throw new ModelLoadException(Path, $"{name} must have {levels} entries (one per block), has {values.Length}.");
            return values;
        }
        return Enumerable.Repeat(Int(name, min, max, fallback), levels).ToArray();
    }

    /// <summary>One integer, written as a number or a list of equal numbers.</summary>
    public int UniformInt(string name, int levels, int min, int max, int fallback)
    {
        int[] values = IntOrList(name, levels, min, max, fallback);
        if (values.Any(v => v != values[0]))
            throw new ModelLoadException(Path, $"{name} must be the same for every block, was [{string.Join(", ", values)}].");
        return values[0];
    }

    /// <summary>A list of strings (at most <paramref name="maxCount"/>).</summary>
    public string[] Strings(string name, int maxCount, string[]? fallback = null)
    {
        if (Field(name) is not JsonElement value)
            return fallback ?? throw new ModelLoadException(Path, $"{name} is missing.");
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > maxCount || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
            throw new ModelLoadException(Path, $"{name} must be a list of at most {maxCount} strings, was {Shorten(value)}.");
        return value.EnumerateArray().Select(v => v.GetString()!).ToArray();
    }

    /// <summary>A string; <paramref name="fallback"/> when absent.</summary>
    public string String(string name, string fallback)
    {
        if (Field(name) is not JsonElement value)
            return fallback;
        if (value.ValueKind != JsonValueKind.String)
            throw new ModelLoadException(Path, $"{name} must be a string, was {Shorten(value)}.");
        return value.GetString()!;
    }

    /// <summary>A boolean; <paramref name="fallback"/> when absent.</summary>
    public bool Bool(string name, bool fallback)
    {
        if (Field(name) is not JsonElement value)
            return fallback;
        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            throw new ModelLoadException(Path, $"{name} must be true or false, was {Shorten(value)}.");
        return value.GetBoolean();
    }

    /// <summary>A number in (<paramref name="min"/>, <paramref name="max"/>); <paramref name="fallback"/> when absent.</summary>
    public float Float(string name, float min, float max, float fallback)
    {
        if (Field(name) is not JsonElement value)
            return fallback;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double result) || !(result > min && result < max))
            throw new ModelLoadException(Path, $"{name} must be a number between {min} and {max}, was {Shorten(value)}.");
        return (float)result;
    }

    private static string Shorten(JsonElement value)
    {
        string text = value.GetRawText();
        return text.Length <= 80 ? text : text[..80] + "…";
    }

    public void Dispose() => _document.Dispose();
}
