using Diffusion.Core.Families;
using Diffusion.Core.Graphs;
using Diffusion.Core.Models;
using Diffusion.Core.Schedulers;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Resolves a diffusers folder (ONNX exports, safetensors weights, or a mix) into <see cref="PipelineComponents"/>: the
/// family from the setting, <c>model_index.json</c> or the UNet's inputs, the family's text encoders, and a model source
/// per component (graphs built for safetensors).
/// </summary>
internal static class FolderComponents
{
    public static PipelineComponents Resolve(string modelDirectory, PipelineSettings settings)
    {
        // These say what a single file cannot; a folder says it itself, so setting them for a folder is a mistake to report.
        foreach ((string option, object? value) in (ReadOnlySpan<(string, object?)>)[(nameof(PipelineSettings.ConfigDirectory), settings.ConfigDirectory), (nameof(PipelineSettings.VaePath), settings.VaePath)])
        {
            if (value is not null)
                throw new InvalidOptionException(option, $"applies to single-file checkpoints; {Path.GetFullPath(modelDirectory)} is a model folder (it has its own configs and VAE).");
        }
        RequireUNetFamily(modelDirectory, settings.Family);
        var folder = StableDiffusionModelFolder.Open(modelDirectory);
        // Components given as safetensors get their graphs built here (headers read, shapes checked, no weights loaded).
        ModelSource unet = FolderModelSources.UNet(settings.UNetModelPath ?? folder.UNetPath, folder.Directory);
        ModelFamily family = ResolveFamily(folder, unet, settings.Family);
        SchedulerConfig scheduler = SchedulerConfig.FromJsonFile(folder.SchedulerConfigPath, settings.Logger);
        var encoders = TextEncoderFiles(folder, family)
            .Select(files => (files.TokenizerDirectory, FolderModelSources.TextEncoder(files.EncoderPath)))
            .ToArray();
        return new PipelineComponents(folder.Directory, family, scheduler, encoders, unet,
            FolderModelSources.VaeDecoder(folder.VaeDecoderPath),
            folder.VaeEncoderPath is { } encoderPath ? FolderModelSources.VaeEncoder(encoderPath) : null,
            folder.VaeScalingFactor, folder.DefaultImageSize, folder.ImageSizeMultiple, folder.VaeForceUpcast,
            folder.ForceZerosForEmptyPrompt, folder.RequiresAestheticsScore, ReadConfigs(folder));
    }

    /// <summary>A transformer model folder (SD3, FLUX.1) is named as one before the UNet folder's files are looked for.</summary>
    private static void RequireUNetFamily(string modelDirectory, ModelFamily? setting)
    {
        string index = Path.Combine(Path.GetFullPath(modelDirectory), "model_index.json");
        ModelFamily? family = setting ?? (File.Exists(index) ? ModelFamilyResolver.FromPipelineClassName(ModelFolderJson.ReadModelIndex(index).PipelineClass) : null);
        if (family is { IsFlowMatchingTransformer: true })
            throw new ModelLoadException(Path.GetFullPath(modelDirectory), $"is a {family.Name} model (a flow-matching transformer); load it with FlowMatchingPipeline.Load.");
    }

    /// <summary>The scheduler, UNet and VAE configs the folder has, as text (for an export).</summary>
    private static Dictionary<string, string> ReadConfigs(StableDiffusionModelFolder folder)
    {
        var configs = new Dictionary<string, string> { ["scheduler"] = File.ReadAllText(folder.SchedulerConfigPath) };
        foreach ((string key, string[] candidates) in (ReadOnlySpan<(string, string[])>)[("unet", ["unet"]), ("vae", ["vae", "vae_decoder"])])
        {
            foreach (string component in candidates)
            {
                string path = Path.Combine(folder.Directory, component, "config.json");
                if (File.Exists(path))
                {
                    configs[key] = File.ReadAllText(path);
                    break;
                }
            }
        }
        return configs;
    }

    /// <summary>
    /// The folder's family, from the setting, else <c>model_index.json</c>'s <c>_class_name</c>, else the UNet's declared
    /// inputs (read from the graph, no session); a family this version does not run is refused by name before any
    /// session exists.
    /// </summary>
    private static ModelFamily ResolveFamily(StableDiffusionModelFolder folder, ModelSource unet, ModelFamily? setting)
    {
        ModelFamily family = setting
            ?? ModelFamilyResolver.FromPipelineClassName(folder.PipelineClassName)
            ?? ModelFamilyResolver.FromDenoiserInputs(OnnxWeightReader.Read(unet).Inputs);
        if (family.IsRunnable)
            return family;
        string source = setting is not null ? "PipelineSettings.Family"
            : ModelFamilyResolver.FromPipelineClassName(folder.PipelineClassName) is not null ? $"_class_name {folder.PipelineClassName}"
            : $"the UNet's inputs {string.Join(", ", family.ExtraDenoiserInputs)}";
        string runnable = string.Join(", ", ModelFamily.Known.Where(f => f.IsRunnable).Select(f => f.Name));
        throw new ModelLoadException(folder.Directory, $"is a {family.Name} model ({source}); this version runs {runnable}.");
    }

    /// <summary>The family's tokenizer and text-encoder files in conditioning order; a missing one is named.</summary>
    private static (string TokenizerDirectory, string EncoderPath)[] TextEncoderFiles(StableDiffusionModelFolder folder, ModelFamily family)
    {
        string first = Path.Combine(folder.Directory, "text_encoder");
        string second = Path.Combine(folder.Directory, "text_encoder_2");
        (string, string) One() => (folder.TokenizerDirectory ?? throw Missing(Path.Combine(folder.Directory, "tokenizer"), "tokenizer folder"),
            folder.TextEncoderPath ?? throw Missing(Path.Combine(first, "model.onnx"), "text encoder file"));
        (string, string) Two() => (folder.Tokenizer2Directory ?? throw Missing(Path.Combine(folder.Directory, "tokenizer_2"), "tokenizer folder of text_encoder_2"),
            folder.TextEncoder2Path ?? throw Missing(Path.Combine(second, "model.onnx"), "text encoder file (text_encoder_2)"));
        if (family == ModelFamily.StableDiffusionXLRefiner)
            return [Two()];
        if (family == ModelFamily.StableDiffusionXL)
            return [One(), Two()];
        return [One()];

        ModelLoadException Missing(string path, string what) => new(path, $"required {what} is missing; a {family.Name} folder has it.");
    }
}
