using System.Diagnostics;
using Diffusion.Core.Execution;
using Diffusion.Core.Families;
using Diffusion.Core.Models;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Loads a diffusers ONNX Stable Diffusion folder into a <see cref="StableDiffusionPipeline"/>: providers checked
/// before any weight is read, the folder's files and configs, components that must fit each other, LoRA and textual
/// inversion merged into the sessions' weights, and every session created (and, in sequential mode, released again
/// once its contract is read). On any failure everything created so far is disposed.
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
        string unetPath = settings.UNetModelPath ?? folder.UNetPath;
        RequireRunnableFamily(folder, unetPath, settings.Family);
        var schedulerConfig = SchedulerConfig.FromJsonFile(folder.SchedulerConfigPath, settings.Logger);
        IScheduler scheduler = SchedulerCatalog.CreateFromConfig(schedulerConfig);
        var tokenizer = ClipTokenizer.FromDirectory(folder.TokenizerDirectory);
        TokenEmbeddingTable.RequireFits(tokenizer, folder.TokenizerDirectory, folder.TextEncoderPath);

        TextEncoder? textEncoder = null;
        UNet? unet = null;
        VaeDecoder? vaeDecoder = null;
        var adapters = new PipelineAdapters(settings.Logger);
        try
        {
            long start = Stopwatch.GetTimestamp();
            adapters.AddTextualInversions(settings.TextualInversions, folder.TextEncoderPath, tokenizer);
            LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder, folder.TextEncoderPath, settings.Loras);
            LoraSessionSwitcher.SetInitial(adapters, adapters.UNet, unetPath, settings.Loras);
            // In Sequential mode each model is released as soon as its contract is read (and a bad model rejected),
            // so loading never holds more than one model's weights either.
            bool sequential = settings.MemoryMode == MemoryMode.Sequential;
            textEncoder = TextEncoder.Load(folder.TextEncoderPath, adapters.SettingsFor(adapters.TextEncoder, settings.TextEncoderSettings));
            if (sequential)
                textEncoder.Unload();
            unet = UNet.Load(unetPath, adapters.SettingsFor(adapters.UNet, settings.UNetSettings));
            if (sequential)
                unet.Unload();
            vaeDecoder = VaeDecoder.Load(folder.VaeDecoderPath, settings.VaeDecoderSettings);
            if (sequential)
                vaeDecoder.Unload();
            if (settings.Logger is { } logger)
            {
                double milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                PipelineLog.Loaded(logger, folder.Directory, milliseconds, scheduler.GetType().Name);
            }
            return new StableDiffusionPipeline(tokenizer, textEncoder, unet, vaeDecoder, scheduler,
                folder.VaeScalingFactor, folder.DefaultImageSize, settings, null, folder.VaeEncoderPath, adapters)
            {
                ImageSizeMultiple = folder.ImageSizeMultiple,
            };
        }
        catch
        {
            vaeDecoder?.Dispose();
            unet?.Dispose();
            textEncoder?.Dispose();
            adapters.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The folder's family, from the setting, else <c>model_index.json</c>'s <c>_class_name</c>, else the UNet's declared
    /// inputs (read from the graph, no session); a family this version does not run is refused by name before any
    /// session exists.
    /// </summary>
    private static void RequireRunnableFamily(StableDiffusionModelFolder folder, string unetPath, ModelFamily? setting)
    {
        ModelFamily family = setting
            ?? ModelFamilyResolver.FromPipelineClassName(folder.PipelineClassName)
            ?? ModelFamilyResolver.FromDenoiserInputs(OnnxWeightReader.Read(unetPath).Inputs);
        if (family.IsRunnable)
            return;
        string source = setting is not null ? "PipelineSettings.Family"
            : ModelFamilyResolver.FromPipelineClassName(folder.PipelineClassName) is not null ? $"_class_name {folder.PipelineClassName}"
            : $"the UNet's inputs {string.Join(", ", family.ExtraDenoiserInputs)}";
        throw new ModelLoadException(folder.Directory,
            $"is a {family.Name} model ({source}); this version runs the {ModelFamily.StableDiffusion.Name} family only.");
    }
}
