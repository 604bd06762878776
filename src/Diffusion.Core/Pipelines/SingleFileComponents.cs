using Diffusion.Core.Families;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Models;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Resolves a single-file checkpoint (<c>model.safetensors</c> in the original LDM / SGM layout) into
/// <see cref="PipelineComponents"/>: family from its keys, configs from <see cref="PipelineSettings.ConfigDirectory"/>
/// where it has them (else the family's published ones and the file's shapes), tokenizers from that folder (or a
/// <c>tokenizer/</c> beside the file), every graph built before any session. The rules are in docs/single-file.md.
/// </summary>
internal static class SingleFileComponents
{
    /// <summary>Whether <paramref name="path"/> names a checkpoint file (safetensors or a refused pickle) rather than a folder.</summary>
    public static bool IsSingleFile(string path)
        => File.Exists(path) && (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
                                 || Weights.PickleCheckpointGuard.HasPickleExtension(path));

    public static PipelineComponents Resolve(string path, PipelineSettings settings)
    {
        string full = Path.GetFullPath(path);
        using SingleFileCheckpoint checkpoint = SingleFileCheckpoint.Open(full);
        SingleFileKind kind = checkpoint.Layout.Kind;
        ModelFamily family = kind switch
        {
            SingleFileKind.StableDiffusionXL => ModelFamily.StableDiffusionXL,
            SingleFileKind.StableDiffusionXLRefiner => ModelFamily.StableDiffusionXLRefiner,
            _ => ModelFamily.StableDiffusion,
        };
        if (settings.Family is { } setting && setting != family)
            throw new InvalidOptionException(nameof(PipelineSettings.Family), $"is {setting.Name}, but {full} holds a {family.Name} checkpoint ({kind}).");
        string? configs = settings.ConfigDirectory is { } directory ? Path.GetFullPath(directory) : null;
        if (configs is not null && !Directory.Exists(configs))
            throw new InvalidOptionException(nameof(PipelineSettings.ConfigDirectory), $"'{configs}' is not a folder.");
        string? Config(string component) => configs is not null && File.Exists(Path.Combine(configs, component, "config.json")) ? Path.Combine(configs, component, "config.json") : null;

        // Text encoders in conditioning order, with the tokenizer folder each needs.
        bool refiner = kind == SingleFileKind.StableDiffusionXLRefiner;
        string[] components = refiner ? ["text_encoder_2"] : kind == SingleFileKind.StableDiffusionXL ? ["text_encoder", "text_encoder_2"] : ["text_encoder"];
        var encoders = new (string, ModelSource)[components.Length];
        int pooledWidth = 1280;
        for (int i = 0; i < components.Length; i++)
        {
            string? config = Config(components[i]);
            bool projection = components[i] == "text_encoder_2";
            ClipTextConfig clip = config is null ? checkpoint.TextEncoderConfig(i) : ClipTextConfig.FromJson(config, projection);
            BuiltModel built = checkpoint.BuildTextEncoder(i, clip);
            if (clip.ProjectionDim is int width)
                pooledWidth = width; // SDXL's text_embeds are as wide as text_encoder_2's projection
            encoders[i] = (Tokenizer(full, configs, components[i] == "text_encoder" ? "tokenizer" : "tokenizer_2"), built.ToSource());
        }

        UNetConfig unet = Config("unet") is { } unetConfig
            ? UNetConfig.FromJson(unetConfig, pooledWidth)
            : SingleFileDefaults.UNet(kind, checkpoint.UNetInChannels);
        // PipelineSettings.UNetModelPath replaces the file's UNet, as it replaces a folder's.
        ModelSource unetSource = settings.UNetModelPath is { } unetPath
            ? FolderModelSources.UNet(unetPath, configs ?? Path.GetDirectoryName(full)!)
            : checkpoint.BuildUNet(unet).ToSource();

        (float scaling, bool upcast) = SingleFileDefaults.Vae(kind);
        AutoencoderKlConfig vae = AutoencoderKlConfig.StableDiffusion;
        if (Config("vae") is { } vaeConfig)
        {
            vae = AutoencoderKlConfig.FromJson(vaeConfig);
            scaling = ModelFolderJson.ReadVaeScalingFactor(configs!);
            upcast = ModelFolderJson.ReadVaeForceUpcast(configs!);
        }
        (BuiltModel decoder, BuiltModel encoder) = settings.VaePath is { } vaePath
            ? SeparateVae.Build(vaePath, vae)
            : checkpoint.HasVae
                ? checkpoint.BuildVae(vae)
                : throw new WeightFileException(full, SingleFileLayout.Vae + "decoder.conv_in.weight",
                    $"missing: the checkpoint has no VAE (a pruned file); give one with {nameof(PipelineSettings.VaePath)}.");

        string schedulerPath = configs is null ? "" : Path.Combine(configs, "scheduler", "scheduler_config.json");
        string schedulerJson = File.Exists(schedulerPath) ? File.ReadAllText(schedulerPath) : SingleFileDefaults.SchedulerJson(kind, checkpoint.MetadataPredictionType);
        SchedulerConfig scheduler = SchedulerConfig.FromJson(schedulerJson, File.Exists(schedulerPath) ? schedulerPath : $"the published {kind} scheduler config", settings.Logger);
        if (settings.Logger is { } logger && logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Information))
        {
            string report = checkpoint.Report() + (settings.VaePath is { } separate ? $"; VAE from {separate}" : "");
            PipelineLog.SingleFileDetected(logger, full, report);
        }
        int imageSize = Config("unet") is not null ? ModelFolderJson.ReadDefaultImageSize(configs!) : SingleFileDefaults.ImageSize(kind);
        var configJson = new Dictionary<string, string>
        {
            ["scheduler"] = schedulerJson,
            ["unet"] = Config("unet") is { } unetFile ? File.ReadAllText(unetFile) : unet.ToDiffusersJson(imageSize / 8),
            ["vae"] = Config("vae") is { } vaeFile ? File.ReadAllText(vaeFile) : vae.ToDiffusersJson(scaling, upcast),
        };
        return new PipelineComponents(full, family, scheduler, encoders, unetSource, decoder.ToSource(), encoder.ToSource(),
            scaling, imageSize, 8 << (unet.BlockOutChannels.Length - 1), upcast, ForceZerosForEmptyPrompt: !refiner, RequiresAestheticsScore: refiner,
            configJson);
    }

    /// <summary>The tokenizer folder: the config folder's, else one beside the checkpoint; a single file holds none.</summary>
    private static string Tokenizer(string checkpoint, string? configs, string name)
    {
        string beside = Path.Combine(Path.GetDirectoryName(checkpoint)!, name);
        string? found = configs is not null && Directory.Exists(Path.Combine(configs, name)) ? Path.Combine(configs, name)
            : Directory.Exists(beside) ? beside
            : null;
        return found ?? throw new InvalidOptionException(nameof(PipelineSettings.ConfigDirectory),
            $"{checkpoint} holds no tokenizer: set it to a folder with {name}/ (CLIP's vocab.json and merges.txt, the same for every SD and SDXL model" +
            (name == "tokenizer_2" ? ", with pad token \"!\"" : "") + $"), or put {name}/ beside the file.");
    }
}
