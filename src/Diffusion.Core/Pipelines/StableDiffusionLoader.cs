using System.Diagnostics;
using Diffusion.Core.Execution;
using Diffusion.Core.Families;
using Diffusion.Core.Graphs;
using Diffusion.Core.Models;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Loads a diffusers ONNX Stable Diffusion (1.x/2.x or XL) folder into a <see cref="StableDiffusionPipeline"/>: providers
/// checked before any weight is read, the family, the folder's files and configs, components that must fit each other,
/// LoRA and textual inversion merged into the sessions' weights, and every session created (and, in sequential mode,
/// released again once its contract is read). On any failure everything created so far is disposed.
/// </summary>
internal static class StableDiffusionLoader
{
    public static StableDiffusionPipeline Load(string modelDirectory, PipelineSettings settings)
    {
        // Fail fast on a provider whose native library is absent, before reading gigabytes of weights.
        SessionFactory.EnsureAvailable(settings.TextEncoderSettings.Provider);
        SessionFactory.EnsureAvailable(settings.UNetSettings.Provider);
        SessionFactory.EnsureAvailable(settings.VaeDecoderSettings.Provider);

        var folder = StableDiffusionModelFolder.Open(modelDirectory);
        if (settings.VaeDecoderFallbackPath is { } fallback && !File.Exists(fallback))
            throw new ModelLoadException(fallback, $"{nameof(PipelineSettings.VaeDecoderFallbackPath)}: no such file.");
        // Components given as safetensors get their graphs built here (headers read, shapes checked, no weights loaded).
        ModelSource unetSource = FolderModelSources.UNet(settings.UNetModelPath ?? folder.UNetPath, folder.Directory);
        ModelFamily family = ResolveFamily(folder, unetSource, settings.Family);
        bool xl = family != ModelFamily.StableDiffusion;
        if (xl)
            RequireSupportedAdapters(settings, family);
        var schedulerConfig = SchedulerConfig.FromJsonFile(folder.SchedulerConfigPath, settings.Logger);
        IScheduler scheduler = SchedulerCatalog.CreateFromConfig(schedulerConfig);
        (string TokenizerDirectory, string EncoderPath)[] encoderFiles = TextEncoderFiles(folder, family);
        var tokenizers = new ClipTokenizer[encoderFiles.Length];
        var encoderSources = new ModelSource[encoderFiles.Length];
        for (int k = 0; k < encoderFiles.Length; k++)
        {
            tokenizers[k] = ClipTokenizer.FromDirectory(encoderFiles[k].TokenizerDirectory);
            encoderSources[k] = FolderModelSources.TextEncoder(encoderFiles[k].EncoderPath);
            TokenEmbeddingTable.RequireFits(tokenizers[k], encoderFiles[k].TokenizerDirectory, encoderSources[k]);
        }
        ModelSource vaeDecoderSource = FolderModelSources.VaeDecoder(folder.VaeDecoderPath);
        ModelSource? vaeEncoderSource = folder.VaeEncoderPath is { } encoderPath ? FolderModelSources.VaeEncoder(encoderPath) : null;

        var encoders = new List<TextEncoder>();
        UNet? unet = null;
        VaeDecoder? vaeDecoder = null;
        var adapters = new PipelineAdapters(settings.Logger);
        try
        {
            long start = Stopwatch.GetTimestamp();
            adapters.AddTextualInversions(settings.TextualInversions, encoderSources[0], tokenizers[0]);
            LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder, encoderSources[0], settings.Loras);
            if (encoderSources.Length > 1)
                LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder2, encoderSources[1], settings.Loras);
            LoraSessionSwitcher.SetInitial(adapters, adapters.UNet, unetSource, settings.Loras);
            // In Sequential mode each model is released as soon as its contract is read (and a bad model rejected),
            // so loading never holds more than one model's weights either.
            bool sequential = settings.MemoryMode == MemoryMode.Sequential;
            for (int k = 0; k < encoderFiles.Length; k++)
            {
                SessionSettings session = adapters.SettingsFor(k == 0 ? adapters.TextEncoder : adapters.TextEncoder2, settings.TextEncoderSettings);
                encoders.Add(TextEncoder.Load(encoderSources[k], session));
                if (sequential)
                    encoders[^1].Unload();
            }
            unet = UNet.Load(unetSource, adapters.SettingsFor(adapters.UNet, settings.UNetSettings));
            if (sequential)
                unet.Unload();
            vaeDecoder = VaeDecoder.Load(vaeDecoderSource, settings.VaeDecoderSettings);
            if (sequential)
                vaeDecoder.Unload();
            if (settings.Logger is { } logger)
            {
                double milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                PipelineLog.Loaded(logger, folder.Directory, milliseconds, scheduler.GetType().Name);
            }
            var models = new PipelineModels(tokenizers[0], encoders[0], unet, vaeDecoder, null, vaeEncoderSource, settings.VaeEncoderSettings, settings.MemoryMode)
            {
                Tokenizer2 = tokenizers.Length > 1 ? tokenizers[1] : null,
                TextEncoder2 = encoders.Count > 1 ? encoders[1] : null,
                VaeDecoderFallbackPath = settings.VaeDecoderFallbackPath,
                VaeDecoderFallbackSettings = settings.VaeDecoderSettings,
            };
            XLConditioningSettings? conditioning = xl ? new XLConditioningSettings(
                folder.ForceZerosForEmptyPrompt ?? true,
                folder.RequiresAestheticsScore ?? unet.FindConditioningInput(XLPromptConditioning.TimeIdsInput)?.GetFixedDimension(1) == 5) : null;
            return new StableDiffusionPipeline(models, family, conditioning, scheduler, folder.VaeScalingFactor, folder.DefaultImageSize, settings, adapters)
            {
                ImageSizeMultiple = folder.ImageSizeMultiple,
                VaeForceUpcast = folder.VaeForceUpcast,
            };
        }
        catch
        {
            vaeDecoder?.Dispose();
            unet?.Dispose();
            foreach (TextEncoder encoder in encoders)
                encoder.Dispose();
            adapters.Dispose();
            throw;
        }
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
    private static (string, string)[] TextEncoderFiles(StableDiffusionModelFolder folder, ModelFamily family)
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

    /// <summary>
    /// SDXL base models take LoRAs (kohya keys in diffusers naming, diffusers/PEFT keys) on the UNet and both text
    /// encoders; textual inversion, and LoRAs on the refiner, are refused by option name for now.
    /// </summary>
    private static void RequireSupportedAdapters(PipelineSettings settings, ModelFamily family)
    {
        if (settings.TextualInversions.Count > 0)
            throw new InvalidOptionException(nameof(PipelineSettings.TextualInversions), $"textual-inversion files are applied to {ModelFamily.StableDiffusion.Name} models only in this version; this folder is {family.Name}.");
        if (family != ModelFamily.StableDiffusionXLRefiner)
            return;
        string? option = settings.Loras.Count > 0 ? nameof(PipelineSettings.Loras)
            : settings.LoraDirectory is not null ? nameof(PipelineSettings.LoraDirectory)
            : null;
        if (option is not null)
            throw new InvalidOptionException(option, $"LoRA files are not applied to the {family.Name} in this version (its only text encoder is text_encoder_2).");
    }
}
