using System.Text.Json;

namespace Diffusion.Core.Models;

/// <summary>
/// Reads the JSON files of a diffusers model folder (<c>model_index.json</c>, component <c>config.json</c>s): only the
/// few settings the pipelines use, each checked, every failure a <see cref="ModelLoadException"/> naming the file.
/// </summary>
internal static class ModelFolderJson
{
    /// <summary>What <c>model_index.json</c> says: the pipeline class, the diffusers version, the components' classes and the boolean pipeline settings.</summary>
    internal sealed record ModelIndex(string? PipelineClass, string? Version, Dictionary<string, string> Components, Dictionary<string, bool> Flags);

    /// <summary>Reads <c>model_index.json</c>: components listed as <c>[null, null]</c> are left out.</summary>
    public static ModelIndex ReadModelIndex(string path)
    {
        using JsonDocument document = ParseJson(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new ModelLoadException(path, "expected a JSON object.");
        string? pipelineClass = null;
        string? version = null;
        var components = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (JsonProperty property in document.RootElement.EnumerateObject())
        {
            if (property.Name == "_class_name" && property.Value.ValueKind == JsonValueKind.String)
                pipelineClass = property.Value.GetString();
            else if (property.Name == "_diffusers_version" && property.Value.ValueKind == JsonValueKind.String)
                version = property.Value.GetString();
            else if (property.Value.ValueKind == JsonValueKind.Array && property.Value.GetArrayLength() == 2
                     && property.Value[1].ValueKind == JsonValueKind.String)
                components[property.Name] = property.Value[1].GetString()!;
            else if (property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                flags[property.Name] = property.Value.GetBoolean();
        }
        return new ModelIndex(pipelineClass, version, components, flags);
    }

    /// <summary>
    /// <c>force_upcast</c> from <c>vae_decoder/config.json</c> or <c>vae/config.json</c> (diffusers' AutoencoderKL
    /// config: the VAE overflows in float16 and must run in float32, true for SDXL's); false when no config says.
    /// </summary>
    public static bool ReadVaeForceUpcast(string directory)
        => ReadVaeSetting(directory, "force_upcast", static (value, path) => value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : throw new ModelLoadException(path, $"force_upcast must be true or false, was {value.GetRawText()}."), false);

    /// <summary>The VAE's <c>scaling_factor</c> (see <see cref="StableDiffusionModelFolder.VaeScalingFactor"/>).</summary>
    public static float ReadVaeScalingFactor(string directory)
        => ReadVaeScalingFactor(directory, StableDiffusionModelFolder.DefaultVaeScalingFactor);

    /// <summary>
    /// The VAE's <c>shift_factor</c> (SD3's 0.0609, FLUX.1's 0.1159: latents are (x − shift) · scaling), or
    /// <paramref name="fallback"/> when no config gives one; null in the config means none (0).
    /// </summary>
    public static float ReadVaeShiftFactor(string directory, float fallback)
        => ReadVaeSetting(directory, "shift_factor", static (factor, path) =>
            factor.ValueKind == JsonValueKind.Null ? 0f
            : factor.ValueKind == JsonValueKind.Number && factor.TryGetDouble(out double value) && double.IsFinite(value) && Math.Abs(value) < 1e3
                ? (float)value
                : throw new ModelLoadException(path, $"shift_factor must be a finite number or null, was {factor.GetRawText()}."),
            fallback);

    /// <summary>The VAE's <c>scaling_factor</c>, or <paramref name="fallback"/> when no config gives one.</summary>
    public static float ReadVaeScalingFactor(string directory, float fallback)
        => ReadVaeSetting(directory, "scaling_factor", static (factor, path) =>
            factor.ValueKind == JsonValueKind.Number && factor.TryGetDouble(out double value) && value > 0 && !double.IsInfinity(value)
                ? (float)value
                : throw new ModelLoadException(path, $"scaling_factor must be a positive number, was {factor.GetRawText()}."),
            fallback);

    /// <summary>A setting of the first VAE config (<c>vae_decoder/</c>, then <c>vae/</c>) that has it, parsed; else <paramref name="fallback"/>.</summary>
    private static T ReadVaeSetting<T>(string directory, string property, Func<JsonElement, string, T> parse, T fallback)
    {
        foreach (string folder in (ReadOnlySpan<string>)["vae_decoder", "vae"])
        {
            string path = Path.Combine(directory, folder, "config.json");
            if (!File.Exists(path))
                continue;
            using JsonDocument document = ParseJson(path);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(property, out JsonElement value))
                return parse(value, path);
        }
        return fallback;
    }

    /// <summary><c>sample_size</c> × 8 from <c>unet/config.json</c>, else 512 (see <see cref="StableDiffusionModelFolder.DefaultImageSize"/>).</summary>
    public static int ReadDefaultImageSize(string directory)
    {
        string path = Path.Combine(directory, "unet", "config.json");
        if (!File.Exists(path))
            return 512;
        using JsonDocument document = ParseJson(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("sample_size", out JsonElement size))
            return 512;
        // sample_size is an int, or [height, width] in some configs; the square default takes the first.
        JsonElement value = size.ValueKind == JsonValueKind.Array && size.GetArrayLength() > 0 ? size[0] : size;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int latent) || latent <= 0 || latent > 1024)
            throw new ModelLoadException(path, $"sample_size must be a positive latent size, was {size.GetRawText()}.");
        return latent * 8;
    }

    /// <summary>8 × 2^(blocks − 1) from <c>unet/config.json</c>'s <c>block_out_channels</c> (see <see cref="StableDiffusionModelFolder.ImageSizeMultiple"/>).</summary>
    public static int? ReadImageSizeMultiple(string directory)
    {
        string path = Path.Combine(directory, "unet", "config.json");
        if (!File.Exists(path))
            return null;
        using JsonDocument document = ParseJson(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("block_out_channels", out JsonElement blocks))
            return null;
        if (blocks.ValueKind != JsonValueKind.Array || blocks.GetArrayLength() is < 1 or > 8)
            throw new ModelLoadException(path, $"block_out_channels must be a list of 1 to 8 channel counts, was {blocks.GetRawText()}.");
        return 8 << (blocks.GetArrayLength() - 1);
    }

    /// <summary>
    /// <c>layers_per_block</c> of the diffusers config at <paramref name="configPath"/> (a UNet's or ControlNet's
    /// <c>config.json</c>): ResBlocks per down block. <see langword="null"/> when there is no such file or setting.
    /// </summary>
    /// <exception cref="ModelLoadException">The setting is not an integer from 1 to 8 (or a list of equal ones).</exception>
    public static int? ReadLayersPerBlock(string configPath)
    {
        if (!File.Exists(configPath))
            return null;
        using JsonDocument document = ParseJson(configPath);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("layers_per_block", out JsonElement layers))
            return null;
        // diffusers allows one count per block; every SD, SDXL and ControlNet config has one count for all.
        JsonElement first = layers.ValueKind == JsonValueKind.Array && layers.GetArrayLength() > 0 ? layers[0] : layers;
        bool uniform = layers.ValueKind != JsonValueKind.Array || layers.EnumerateArray().All(l => l.GetRawText() == first.GetRawText());
        if (!uniform || first.ValueKind != JsonValueKind.Number || !first.TryGetInt32(out int count) || count is < 1 or > 8)
            throw new ModelLoadException(configPath, $"layers_per_block must be one count from 1 to 8, was {layers.GetRawText()}.");
        return count;
    }

    /// <summary>Parses a JSON file (comments and trailing commas allowed), naming it in any failure.</summary>
    public static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new ModelLoadException(path, $"is not valid JSON: {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            throw new ModelLoadException(path, $"cannot be read: {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ModelLoadException(path, $"cannot be read: {ex.Message}", ex);
        }
    }
}
