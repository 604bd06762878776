namespace Diffusion.Core.Models;

/// <summary>
/// A diffusers ONNX Stable Diffusion (1.x/2.x or XL) folder (the layout <c>OnnxStableDiffusionPipeline.save_pretrained</c>
/// and Optimum write): <c>model_index.json</c> plus one sub-folder per component. Opening it checks that
/// every required component is there and reads the few settings the pipeline needs; it loads no model.
/// </summary>
/// <remarks>
/// Required: <c>model_index.json</c>, <c>unet/model.onnx</c>, <c>vae_decoder/model.onnx</c>,
/// <c>scheduler/scheduler_config.json</c>, and a text encoder with its tokenizer: <c>text_encoder/model.onnx</c> with
/// <c>tokenizer/</c>, <c>text_encoder_2/model.onnx</c> with <c>tokenizer_2/</c> (SDXL), or both (a model family
/// checks which it needs). Optional: <c>vae_encoder/model.onnx</c> (image-to-image and inpainting need it).
/// <para>
/// Each model component may instead be a diffusers / transformers folder of safetensors weights with its
/// <c>config.json</c>, as <c>save_pretrained</c> writes them (<c>text_encoder/model.safetensors</c>,
/// <c>unet/diffusion_pytorch_model.safetensors</c>, <c>vae/diffusion_pytorch_model.safetensors</c> for both VAE halves;
/// <c>.fp16</c> variants and sharded indexes too): the library builds the ONNX graph for them (<see cref="Graphs"/>).
/// The path properties then name the weight file; an <c>.onnx</c> file wins where both exist.
/// </para>
/// </remarks>
public sealed class StableDiffusionModelFolder
{
    /// <summary>The VAE scaling factor of SD 1.x/2.x, used when no VAE <c>config.json</c> gives one.</summary>
    public const float DefaultVaeScalingFactor = 0.18215f;

    private StableDiffusionModelFolder(string directory)
    {
        Directory = directory;
        ModelIndexPath = Path.Combine(directory, "model_index.json");
        TextEncoderPath = ExistingFile(directory, "text_encoder") ?? Weights(directory, "text_encoder", TransformersStem);
        TextEncoder2Path = ExistingFile(directory, "text_encoder_2") ?? Weights(directory, "text_encoder_2", TransformersStem);
        UNetPath = ExistingFile(directory, "unet") ?? Weights(directory, "unet", DiffusersStem) ?? Path.Combine(directory, "unet", "model.onnx");
        string? vaeWeights = Weights(directory, "vae", DiffusersStem);
        VaeDecoderPath = ExistingFile(directory, "vae_decoder") ?? vaeWeights ?? Path.Combine(directory, "vae_decoder", "model.onnx");
        TokenizerDirectory = ExistingDirectory(directory, "tokenizer");
        Tokenizer2Directory = ExistingDirectory(directory, "tokenizer_2");
        SchedulerConfigPath = Path.Combine(directory, "scheduler", "scheduler_config.json");
        VaeEncoderPath = ExistingFile(directory, "vae_encoder") ?? vaeWeights;
    }

    private const string TransformersStem = "model";
    private const string DiffusersStem = "diffusion_pytorch_model";

    /// <summary>
    /// A component's model: <c>&lt;component&gt;/model.onnx</c>, else its safetensors weights beside a <c>config.json</c>
    /// (<c>model</c> for transformers' encoders, <c>diffusion_pytorch_model</c> for diffusers' models), else null.
    /// </summary>
    internal static string? ComponentPath(string directory, string component, bool diffusersWeights)
        => ExistingFile(directory, component) ?? Weights(directory, component, diffusersWeights ? DiffusersStem : TransformersStem);

    private static string? ExistingFile(string directory, string component)
    {
        string path = Path.Combine(directory, component, "model.onnx");
        return File.Exists(path) ? path : null;
    }

    /// <summary>The component's safetensors weights (file or shard index) when it has them and the config they need.</summary>
    private static string? Weights(string directory, string component, string stem)
    {
        string folder = Path.Combine(directory, component);
        return File.Exists(Path.Combine(folder, "config.json")) ? Graphs.CheckpointFiles.FindEntry(folder, stem) : null;
    }

    private static string? ExistingDirectory(string directory, string component)
    {
        string path = Path.Combine(directory, component);
        return System.IO.Directory.Exists(path) ? path : null;
    }

    /// <summary>The folder (absolute path).</summary>
    public string Directory { get; }

    /// <summary><c>model_index.json</c>.</summary>
    public string ModelIndexPath { get; }

    /// <summary><c>text_encoder/model.onnx</c> (or its safetensors weights), or <see langword="null"/> when the folder has none (an SDXL refiner).</summary>
    public string? TextEncoderPath { get; }

    /// <summary><c>text_encoder_2/model.onnx</c> (SDXL's OpenCLIP bigG encoder), or <see langword="null"/> when the folder has none.</summary>
    public string? TextEncoder2Path { get; }

    /// <summary><c>unet/model.onnx</c>, or the safetensors weights of <c>unet/</c>.</summary>
    public string UNetPath { get; }

    /// <summary><c>vae_decoder/model.onnx</c>, or the safetensors weights of <c>vae/</c>.</summary>
    public string VaeDecoderPath { get; }

    /// <summary><c>vae_encoder/model.onnx</c> (or the safetensors weights of <c>vae/</c>), or <see langword="null"/> when the folder has no VAE encoder.</summary>
    public string? VaeEncoderPath { get; }

    /// <summary>The <c>tokenizer/</c> folder (<c>vocab.json</c>, <c>merges.txt</c>), or <see langword="null"/> when the folder has none.</summary>
    public string? TokenizerDirectory { get; }

    /// <summary>The <c>tokenizer_2/</c> folder of <c>text_encoder_2</c>, or <see langword="null"/> when the folder has none.</summary>
    public string? Tokenizer2Directory { get; }

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

    /// <summary>
    /// Whether the VAE must run in float32 (<c>force_upcast</c> in its <c>config.json</c>; true for SDXL's VAE, which
    /// overflows in float16).
    /// </summary>
    public bool VaeForceUpcast { get; private init; }

    /// <summary>
    /// SDXL's <c>force_zeros_for_empty_prompt</c> from <c>model_index.json</c>: with guidance and no negative prompt, the
    /// negative embeddings are zeros instead of the empty prompt's. Null when the file does not say (diffusers' SDXL
    /// pipelines then default to true).
    /// </summary>
    public bool? ForceZerosForEmptyPrompt { get; private init; }

    /// <summary>
    /// SDXL's <c>requires_aesthetics_score</c> from <c>model_index.json</c> (true for the refiner: its <c>time_ids</c> end
    /// with an aesthetic score instead of the target size). Null when the file does not say.
    /// </summary>
    public bool? RequiresAestheticsScore { get; private init; }

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

        ModelFolderJson.ModelIndex index = ModelFolderJson.ReadModelIndex(layout.ModelIndexPath);
        RequireTextEncoder(layout);
        RequireFile(layout.UNetPath, "UNet", " (or unet/config.json with diffusion_pytorch_model.safetensors)");
        RequireFile(layout.VaeDecoderPath, "VAE decoder", " (or vae/config.json with diffusion_pytorch_model.safetensors)");
        RequireFile(layout.SchedulerConfigPath, "scheduler configuration", "");

        return new StableDiffusionModelFolder(full)
        {
            PipelineClassName = index.PipelineClass,
            DiffusersVersion = index.Version,
            ComponentClassNames = index.Components,
            ForceZerosForEmptyPrompt = index.Flags.TryGetValue("force_zeros_for_empty_prompt", out bool zeros) ? zeros : null,
            RequiresAestheticsScore = index.Flags.TryGetValue("requires_aesthetics_score", out bool aesthetics) ? aesthetics : null,
            VaeScalingFactor = ModelFolderJson.ReadVaeScalingFactor(full),
            VaeForceUpcast = ModelFolderJson.ReadVaeForceUpcast(full),
            DefaultImageSize = ModelFolderJson.ReadDefaultImageSize(full),
            ImageSizeMultiple = ModelFolderJson.ReadImageSizeMultiple(full),
        };
    }

    /// <summary>A text encoder needs its tokenizer; a folder needs at least one text encoder.</summary>
    private static void RequireTextEncoder(StableDiffusionModelFolder layout)
    {
        string directory = layout.Directory;
        if (layout.TextEncoderPath is null && layout.TextEncoder2Path is null)
            throw new ModelLoadException(Path.Combine(directory, "text_encoder", "model.onnx"), "required text encoder file is missing (neither text_encoder/ nor text_encoder_2/ has a model.onnx, or config.json with model.safetensors).");
        if (layout.TextEncoderPath is not null && layout.TokenizerDirectory is null)
            throw new ModelLoadException(Path.Combine(directory, "tokenizer"), "required tokenizer folder is missing.");
        if (layout.TextEncoder2Path is not null && layout.Tokenizer2Directory is null)
            throw new ModelLoadException(Path.Combine(directory, "tokenizer_2"), "required tokenizer folder of text_encoder_2 is missing.");
    }

    private static void RequireFile(string path, string component, string alternative)
    {
        if (!File.Exists(path))
            throw new ModelLoadException(path, $"required {component} file is missing{alternative}.");
    }
}
