using System.Text.Json;

namespace Diffusion.Core.Models;

/// <summary>
/// A diffusers ONNX Stable Diffusion folder (the layout <c>OnnxStableDiffusionPipeline.save_pretrained</c>
/// and Optimum write): <c>model_index.json</c> plus one sub-folder per component. Opening it checks that
/// every required component is there and reads the few settings the pipeline needs; it loads no model.
/// </summary>
/// <remarks>
/// Required: <c>model_index.json</c>, <c>text_encoder/model.onnx</c>, <c>unet/model.onnx</c>,
/// <c>vae_decoder/model.onnx</c>, the <c>tokenizer/</c> folder and <c>scheduler/scheduler_config.json</c>.
/// Optional: <c>vae_encoder/model.onnx</c> (image-to-image and inpainting need it).
/// </remarks>
public sealed class StableDiffusionModelFolder
{
    /// <summary>The VAE scaling factor of SD 1.x/2.x, used when no VAE <c>config.json</c> gives one.</summary>
    public const float DefaultVaeScalingFactor = 0.18215f;

    private StableDiffusionModelFolder(string directory)
    {
        Directory = directory;
        ModelIndexPath = Path.Combine(directory, "model_index.json");
        TextEncoderPath = Path.Combine(directory, "text_encoder", "model.onnx");
        UNetPath = Path.Combine(directory, "unet", "model.onnx");
        VaeDecoderPath = Path.Combine(directory, "vae_decoder", "model.onnx");
        TokenizerDirectory = Path.Combine(directory, "tokenizer");
        SchedulerConfigPath = Path.Combine(directory, "scheduler", "scheduler_config.json");
        string encoder = Path.Combine(directory, "vae_encoder", "model.onnx");
        VaeEncoderPath = File.Exists(encoder) ? encoder : null;
    }

    /// <summary>The folder (absolute path).</summary>
    public string Directory { get; }

    /// <summary><c>model_index.json</c>.</summary>
    public string ModelIndexPath { get; }

    /// <summary><c>text_encoder/model.onnx</c>.</summary>
    public string TextEncoderPath { get; }

    /// <summary><c>unet/model.onnx</c>.</summary>
    public string UNetPath { get; }

    /// <summary><c>vae_decoder/model.onnx</c>.</summary>
    public string VaeDecoderPath { get; }

    /// <summary><c>vae_encoder/model.onnx</c>, or <see langword="null"/> when the folder has no VAE encoder.</summary>
    public string? VaeEncoderPath { get; }

    /// <summary>The <c>tokenizer/</c> folder (<c>vocab.json</c>, <c>merges.txt</c>).</summary>
    public string TokenizerDirectory { get; }

    /// <summary><c>scheduler/scheduler_config.json</c>.</summary>
    public string SchedulerConfigPath { get; }

    /// <summary>
    /// The factor between VAE latents and UNet latents: <c>scaling_factor</c> from <c>vae_decoder/config.json</c>
    /// or <c>vae/config.json</c> when present, else <see cref="DefaultVaeScalingFactor"/> (0.18215). diffusers
    /// multiplies encoder latents by it and divides UNet latents by it before decoding.
    /// </summary>
    public float VaeScalingFactor { get; private init; } = DefaultVaeScalingFactor;

    /// <summary>
    /// The image size (pixels, square) the UNet was trained for: <c>sample_size</c> × 8 from <c>unet/config.json</c>
    /// when present (64 → 512 for SD 1.x, 96 → 768 for SD 2.x), else 512. Pipelines use it when a call gives no size.
    /// </summary>
    public int DefaultImageSize { get; private init; } = 512;

    /// <summary>
    /// What width and height must be multiples of, from <c>unet/config.json</c>'s <c>block_out_channels</c>: the VAE's 8
    /// times the UNet's 2^(blocks − 1) down-sampling (64 for Stable Diffusion); <see langword="null"/> when the folder
    /// has no such config (the UNet's own failure is then translated).
    /// </summary>
    public int? ImageSizeMultiple { get; private init; }

    /// <summary>The pipeline class from <c>model_index.json</c>'s <c>_class_name</c> (e.g. <c>OnnxStableDiffusionPipeline</c>), if given.</summary>
    public string? PipelineClassName { get; private init; }

    /// <summary>The diffusers version that wrote the folder (<c>_diffusers_version</c>), if given.</summary>
    public string? DiffusersVersion { get; private init; }

    /// <summary>
    /// Each component's class name from <c>model_index.json</c>, e.g. <c>scheduler</c> → <c>PNDMScheduler</c>,
    /// <c>tokenizer</c> → <c>CLIPTokenizer</c>, <c>unet</c> → <c>OnnxRuntimeModel</c>. Components listed as
    /// <c>[null, null]</c> (no safety checker) are left out.
    /// </summary>
    public IReadOnlyDictionary<string, string> ComponentClassNames { get; private init; } = new Dictionary<string, string>();

    /// <summary>The scheduler class named in <c>model_index.json</c> (e.g. <c>PNDMScheduler</c>), if given.</summary>
    public string? SchedulerClassName => ComponentClassNames.TryGetValue("scheduler", out string? name) ? name : null;

    /// <summary>Opens the folder at <paramref name="directory"/> and checks its components.</summary>
    /// <exception cref="ModelLoadException">
    /// The folder or a required component is missing (the path names it), or <c>model_index.json</c> or a VAE
    /// <c>config.json</c> is not valid JSON (the path names the file).
    /// </exception>
    public static StableDiffusionModelFolder Open(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string full = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(full))
            throw new ModelLoadException(full, "model folder not found.");
        var layout = new StableDiffusionModelFolder(full);
        if (!File.Exists(layout.ModelIndexPath))
            throw new ModelLoadException(layout.ModelIndexPath, "not found; a diffusers model folder starts with model_index.json.");

        (string? pipelineClass, string? version, Dictionary<string, string> components) = ReadModelIndex(layout.ModelIndexPath);
        RequireFile(layout.TextEncoderPath, "text encoder");
        RequireFile(layout.UNetPath, "UNet");
        RequireFile(layout.VaeDecoderPath, "VAE decoder");
        if (!System.IO.Directory.Exists(layout.TokenizerDirectory))
            throw new ModelLoadException(layout.TokenizerDirectory, "required tokenizer folder is missing.");
        RequireFile(layout.SchedulerConfigPath, "scheduler configuration");

        return new StableDiffusionModelFolder(full)
        {
            PipelineClassName = pipelineClass,
            DiffusersVersion = version,
            ComponentClassNames = components,
            VaeScalingFactor = ReadVaeScalingFactor(full),
            DefaultImageSize = ReadDefaultImageSize(full),
            ImageSizeMultiple = ReadImageSizeMultiple(full),
        };
    }

    private static void RequireFile(string path, string component)
    {
        if (!File.Exists(path))
            throw new ModelLoadException(path, $"required {component} file is missing.");
    }

    private static (string? PipelineClass, string? Version, Dictionary<string, string> Components) ReadModelIndex(string path)
    {
        using JsonDocument document = ParseJson(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new ModelLoadException(path, "expected a JSON object.");
        string? pipelineClass = null;
        string? version = null;
        var components = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty property in document.RootElement.EnumerateObject())
        {
            if (property.Name == "_class_name" && property.Value.ValueKind == JsonValueKind.String)
                pipelineClass = property.Value.GetString();
            else if (property.Name == "_diffusers_version" && property.Value.ValueKind == JsonValueKind.String)
                version = property.Value.GetString();
            else if (property.Value.ValueKind == JsonValueKind.Array && property.Value.GetArrayLength() == 2
                     && property.Value[1].ValueKind == JsonValueKind.String)
                components[property.Name] = property.Value[1].GetString()!;
        }
        return (pipelineClass, version, components);
    }

    private static float ReadVaeScalingFactor(string directory)
    {
        foreach (string folder in (ReadOnlySpan<string>)["vae_decoder", "vae"])
        {
            string path = Path.Combine(directory, folder, "config.json");
            if (!File.Exists(path))
                continue;
            using JsonDocument document = ParseJson(path);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("scaling_factor", out JsonElement factor))
            {
                if (factor.ValueKind != JsonValueKind.Number || !factor.TryGetDouble(out double value) || !(value > 0) || double.IsInfinity(value))
                    throw new ModelLoadException(path, $"scaling_factor must be a positive number, was {factor.GetRawText()}.");
                return (float)value;
            }
        }
        return DefaultVaeScalingFactor;
    }

    private static int ReadDefaultImageSize(string directory)
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

    private static int? ReadImageSizeMultiple(string directory)
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

    private static JsonDocument ParseJson(string path)
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
