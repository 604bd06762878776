using System.Diagnostics;
using Diffusion.Core.Execution;
using Diffusion.Core.Families;
using Diffusion.Core.Graphs;
using Diffusion.Core.Models;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Loads a diffusers SD3/3.5 or FLUX.1 folder into a <see cref="FlowMatchingPipeline"/>: providers checked first, the
/// family from <c>model_index.json</c> (or the setting), each component as an ONNX export (<c>&lt;component&gt;/model.onnx</c>)
/// or built from its safetensors (<c>config.json</c> beside the weights), the components checked against each other
/// before any session exists, then the sessions. On any failure everything created so far is disposed.
/// </summary>
internal static class FlowMatchingLoader
{
    public static FlowMatchingPipeline Load(string modelDirectory, PipelineSettings settings)
    {
        SessionFactory.EnsureAvailable(settings.TextEncoderSettings.Provider);
        SessionFactory.EnsureAvailable(settings.UNetSettings.Provider);
        SessionFactory.EnsureAvailable(settings.VaeDecoderSettings.Provider);
        // A single file from a model site holds the transformer; the rest comes from a diffusers folder of the same model.
        string? singleFile = File.Exists(modelDirectory) ? Path.GetFullPath(modelDirectory) : null;
        RequireApplicableSettings(settings, singleFile is not null);
        string directory = Path.GetFullPath(singleFile is null ? modelDirectory : settings.ConfigDirectory!);
        if (!Directory.Exists(directory))
            throw singleFile is null
                ? new ModelLoadException(directory, "model folder not found.")
                : new InvalidOptionException(nameof(PipelineSettings.ConfigDirectory), $"{directory}: folder not found.");
        string indexPath = Path.Combine(directory, "model_index.json");
        if (!File.Exists(indexPath))
            throw new ModelLoadException(indexPath, "not found; a diffusers model folder starts with model_index.json.");
        ModelFolderJson.ModelIndex index = ModelFolderJson.ReadModelIndex(indexPath);
        ModelFamily family = settings.Family ?? ModelFamilyResolver.FromPipelineClassName(index.PipelineClass)
            ?? throw new ModelLoadException(indexPath, $"_class_name '{index.PipelineClass ?? "(missing)"}' is not a pipeline this version knows; FlowMatchingPipeline runs StableDiffusion3Pipeline and FluxPipeline folders.");
        if (!family.IsFlowMatchingTransformer)
            throw new ModelLoadException(directory, $"is a {family.Name} model (a UNet); load it with StableDiffusionPipeline.Load.");

        string schedulerPath = Path.Combine(directory, "scheduler", "scheduler_config.json");
        if (!File.Exists(schedulerPath))
            throw new ModelLoadException(schedulerPath, "required scheduler configuration is missing.");
        SchedulerConfig schedulerConfig = SchedulerConfig.FromJsonFile(schedulerPath, settings.Logger);
        if (!SchedulerCatalog.IsFlowMatching(schedulerConfig))
            throw new ModelLoadException(schedulerPath, $"_class_name '{schedulerConfig.ClassName}' is not a flow-matching scheduler; {family.Name} models are trained with flow matching (FlowMatchEulerDiscreteScheduler).");
        IScheduler scheduler = SchedulerCatalog.CreateFromConfig(schedulerConfig);

        bool flux = family == ModelFamily.Flux;
        FlowMatchingSources sources = FlowMatchingSources.Resolve(directory, singleFile, family, settings.Logger);
        List<ModelSource> clipSources = [.. sources.Clips.Select(c => c.Encoder)];
        ModelSource? t5Source = sources.T5?.Encoder;
        ModelSource transformerSource = sources.Transformer, vaeSource = sources.VaeDecoder;
        MemoryPlan memoryPlan = MemoryPlanning.Plan(settings, sources.Planned());
        settings = settings with { MemoryMode = memoryPlan.Chosen };
        (float scaling, float shift) = flux ? (0.3611f, 0.1159f) : (1.5305f, 0.0609f);

        var encoders = new List<TextEncoder>();
        TextEncoder? t5Encoder = null;
        DiffusionTransformer? transformer = null;
        VaeDecoder? vaeDecoder = null;
        var adapters = new PipelineAdapters(settings.Logger);
        try
        {
            long start = Stopwatch.GetTimestamp();
            // LoRAs are merged into each component's weights at load: the transformer, CLIP (text_encoder.) and the second
            // encoder (text_encoder_2.: SD3's CLIP-G, FLUX.1's T5).
            ModelSource secondEncoder = flux ? t5Source! : clipSources[1];
            FlowMatchingLoras.SetInitial(adapters, settings.Loras, family, transformerSource, clipSources[0], secondEncoder);
            bool sequential = settings.MemoryMode == MemoryMode.Sequential;
            for (int k = 0; k < clipSources.Count; k++)
            {
                SessionSettings session = adapters.SettingsFor(k == 0 ? adapters.TextEncoder : adapters.TextEncoder2, settings.TextEncoderSettings);
                encoders.Add(Loaded(TextEncoder.Load(clipSources[k], session), sequential));
            }
            if (t5Source is not null)
                t5Encoder = Loaded(TextEncoder.Load(t5Source, flux ? adapters.SettingsFor(adapters.TextEncoder2, settings.TextEncoderSettings) : settings.TextEncoderSettings), sequential);
            transformer = Loaded(DiffusionTransformer.Load(transformerSource, adapters.SettingsFor(adapters.Transformer, settings.UNetSettings)), sequential);
            vaeDecoder = Loaded(VaeDecoder.Load(vaeSource, settings.VaeDecoderSettings), sequential);
            var models = new FlowMatchingModels([.. sources.Clips.Select(c => c.Tokenizer).Zip(encoders)],
                sources.T5 is { } t5 ? (t5.Tokenizer, t5Encoder!) : null, transformer, vaeDecoder, sources.VaeEncoder, settings.VaeEncoderSettings,
                settings.MemoryMode);
            FlowMatchingFit.Require(family, models);
            if (settings.Logger is { } logger)
            {
                double milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                PipelineLog.Loaded(logger, directory, milliseconds, scheduler.GetType().Name);
            }
            return new FlowMatchingPipeline(models, family, scheduler, ModelFolderJson.ReadVaeScalingFactor(directory, scaling),
                ModelFolderJson.ReadVaeShiftFactor(directory, shift), DefaultImageSize(directory, family), settings, adapters)
            {
                MemoryPlan = memoryPlan,
            };
        }
        catch
        {
            vaeDecoder?.Dispose();
            transformer?.Dispose();
            t5Encoder?.Dispose();
            foreach (TextEncoder encoder in encoders)
                encoder.Dispose();
            adapters.Dispose();
            throw;
        }
    }

    // In Sequential mode each model is released as soon as its contract is read, so loading holds one model's weights at a time.
    private static T Loaded<T>(T model, bool sequential) where T : OnnxModel
    {
        if (sequential)
            model.Unload();
        return model;
    }

    /// <summary>The settings that apply to UNet models only are refused by name rather than ignored.</summary>
    private static void RequireApplicableSettings(PipelineSettings settings, bool singleFile)
    {
        if (singleFile && settings.ConfigDirectory is null)
            throw new InvalidOptionException(nameof(PipelineSettings.ConfigDirectory),
                "a single-file SD3/FLUX.1 transformer needs ConfigDirectory: a diffusers folder of the same model for its text encoders, tokenizers, scheduler and VAE.");
        if (!singleFile && settings.ConfigDirectory is not null)
            throw new InvalidOptionException(nameof(PipelineSettings.ConfigDirectory), "applies to single-file checkpoints; a model folder has its own configs.");
        (string Option, bool Given)[] unetOnly =
        [
            (nameof(PipelineSettings.TextualInversions), settings.TextualInversions.Count > 0), (nameof(PipelineSettings.UNetModelPath), settings.UNetModelPath is not null),
            (nameof(PipelineSettings.PredictionType), settings.PredictionType is not null),
            (nameof(PipelineSettings.VaePath), settings.VaePath is not null), (nameof(PipelineSettings.VaeDecoderFallbackPath), settings.VaeDecoderFallbackPath is not null),
        ];
        foreach ((string option, bool given) in unetOnly)
        {
            if (given)
                throw new InvalidOptionException(option, "is not applied to SD3/FLUX.1 models in this version (it applies to UNet models).");
        }
    }

    /// <summary>diffusers' default size: SD3 takes the transformer's <c>sample_size</c> × 8, FLUX.1 128 × 8.</summary>
    private static int DefaultImageSize(string directory, ModelFamily family)
    {
        string config = Path.Combine(directory, "transformer", "config.json");
        if (family != ModelFamily.StableDiffusion3 || !File.Exists(config))
            return family.DefaultImageSize;
        using Graphs.Architectures.ConfigFields fields = Graphs.Architectures.ConfigFields.Read(config);
        return fields.Int("sample_size", 1, 1024, family.DefaultImageSize / 8) * 8;
    }
}
