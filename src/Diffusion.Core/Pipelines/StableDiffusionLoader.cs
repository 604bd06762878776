using Diffusion.Core.Adapters;
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
    public static StableDiffusionPipeline Load(string modelPath, PipelineSettings settings)
    {
        // Fail fast on a provider whose native library is absent, before reading gigabytes of weights.
        SessionFactory.EnsureAvailable(settings.TextEncoderSettings.Provider);
        SessionFactory.EnsureAvailable(settings.UNetSettings.Provider);
        SessionFactory.EnsureAvailable(settings.VaeDecoderSettings.Provider);

        if (settings.VaeDecoderFallbackPath is { } fallback && !File.Exists(fallback))
            throw new ModelLoadException(fallback, $"{nameof(PipelineSettings.VaeDecoderFallbackPath)}: no such file.");
        if (settings.PredictionType is { } requested && requested is not ("epsilon" or "v_prediction" or "sample"))
            throw new InvalidOptionException(nameof(PipelineSettings.PredictionType), $"must be epsilon, v_prediction or sample, was '{requested}'.");
        PipelineComponents components = SingleFileComponents.IsSingleFile(modelPath)
            ? SingleFileComponents.Resolve(modelPath, settings)
            : FolderComponents.Resolve(modelPath, settings);
        ModelFamily family = components.Family;
        bool xl = family != ModelFamily.StableDiffusion;
        if (xl)
            RequireSupportedAdapters(settings, family);
        SchedulerConfig schedulerConfig = settings.PredictionType is { } prediction
            ? components.SchedulerConfig with { PredictionType = prediction }
            : components.SchedulerConfig;
        IScheduler scheduler = SchedulerCatalog.CreateFromConfig(schedulerConfig);
        var tokenizers = new ClipTokenizer[components.TextEncoders.Count];
        var encoderSources = new ModelSource[components.TextEncoders.Count];
        for (int k = 0; k < tokenizers.Length; k++)
        {
            (string tokenizerDirectory, encoderSources[k]) = components.TextEncoders[k];
            tokenizers[k] = ClipTokenizer.FromDirectory(tokenizerDirectory);
            TokenEmbeddingTable.RequireFits(tokenizers[k], tokenizerDirectory, encoderSources[k]);
        }
        ModelSource unetSource = components.UNet;
        MemoryPlan memoryPlan = MemoryPlanning.Plan(settings,
            [.. encoderSources.Select((source, k) => (k == 0 ? "text_encoder" : "text_encoder_2", source)), ("unet", unetSource), ("vae_decoder", components.VaeDecoder)]);
        settings = settings with { MemoryMode = memoryPlan.Chosen };

        var encoders = new List<TextEncoder>();
        UNet? unet = null;
        VaeDecoder? vaeDecoder = null;
        var adapters = new PipelineAdapters(settings.Logger);
        try
        {
            long start = Stopwatch.GetTimestamp();
            // SDXL embeddings hold clip_l for text_encoder and clip_g for text_encoder_2 (a refiner has only the latter).
            string?[] tensorNames = family == ModelFamily.StableDiffusionXL ? ["clip_l", "clip_g"]
                : family == ModelFamily.StableDiffusionXLRefiner ? ["clip_g"]
                : [null];
            if (adapters.Select(settings.Loras, LoraTarget.Transformer) is [var transformerLora, ..])
                throw new InvalidOptionException(nameof(PipelineSettings.Loras), $"{transformerLora.Path} is an SD3/FLUX.1 LoRA (transformer.… keys); {family.Name} has a UNet.");
            adapters.AddTextualInversions(settings.TextualInversions, [.. encoderSources.Select((source, k) => (source, tokenizers[k], tensorNames[k]))]);
            LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder, encoderSources[0], settings.Loras);
            if (encoderSources.Length > 1)
                LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder2, encoderSources[1], settings.Loras);
            LoraSessionSwitcher.SetInitial(adapters, adapters.UNet, unetSource, settings.Loras);
            // In Sequential mode each model is released as soon as its contract is read (and a bad model rejected),
            // so loading never holds more than one model's weights either.
            bool sequential = settings.MemoryMode == MemoryMode.Sequential;
            for (int k = 0; k < encoderSources.Length; k++)
            {
                SessionSettings session = adapters.SettingsFor(k == 0 ? adapters.TextEncoder : adapters.TextEncoder2, settings.TextEncoderSettings);
                encoders.Add(TextEncoder.Load(encoderSources[k], session));
                if (sequential)
                    encoders[^1].Unload();
            }
            unet = UNet.Load(unetSource, adapters.SettingsFor(adapters.UNet, settings.UNetSettings));
            if (sequential)
                unet.Unload();
            vaeDecoder = VaeDecoder.Load(components.VaeDecoder, settings.VaeDecoderSettings);
            if (sequential)
                vaeDecoder.Unload();
            if (settings.Logger is { } logger)
            {
                double milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                PipelineLog.Loaded(logger, components.Location, milliseconds, scheduler.GetType().Name);
            }
            var models = new PipelineModels(tokenizers[0], encoders[0], unet, vaeDecoder, null, components.VaeEncoder, settings.VaeEncoderSettings, settings.MemoryMode)
            {
                Tokenizer2 = tokenizers.Length > 1 ? tokenizers[1] : null,
                TextEncoder2 = encoders.Count > 1 ? encoders[1] : null,
                VaeDecoderFallbackPath = settings.VaeDecoderFallbackPath,
                VaeDecoderFallbackSettings = settings.VaeDecoderSettings,
            };
            XLConditioningSettings? conditioning = xl ? new XLConditioningSettings(
                components.ForceZerosForEmptyPrompt ?? true,
                components.RequiresAestheticsScore ?? unet.FindConditioningInput(XLPromptConditioning.TimeIdsInput)?.GetFixedDimension(1) == 5) : null;
            return new StableDiffusionPipeline(models, family, conditioning, scheduler, components.VaeScalingFactor, components.DefaultImageSize, settings, adapters)
            {
                MemoryPlan = memoryPlan,
                ImageSizeMultiple = components.ImageSizeMultiple,
                VaeForceUpcast = components.VaeForceUpcast,
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
    /// SDXL base models take LoRAs (kohya keys in diffusers or Stability naming, diffusers/PEFT keys) on the UNet and both
    /// text encoders, and textual inversions (clip_l/clip_g); LoRAs on the refiner are refused by option name for now.
    /// </summary>
    private static void RequireSupportedAdapters(PipelineSettings settings, ModelFamily family)
    {
        if (family != ModelFamily.StableDiffusionXLRefiner)
            return;
        string? option = settings.Loras.Count > 0 ? nameof(PipelineSettings.Loras)
            : settings.LoraDirectory is not null ? nameof(PipelineSettings.LoraDirectory)
            : null;
        if (option is not null)
            throw new InvalidOptionException(option, $"LoRA files are not applied to the {family.Name} in this version (its only text encoder is text_encoder_2).");
    }
}
