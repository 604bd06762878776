using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>Builds tiny-sd pipelines for tests, optionally with one of the UNet variants.</summary>
internal static class TinySd
{
    public static string Folder => SharedData.Require("models/tiny-sd");

    public static SessionSettings Session { get; } = new() { IntraOpThreads = 1 };

    public static StableDiffusionPipeline Load(PipelineSettings? settings = null) =>
        StableDiffusionPipeline.Load(Folder, settings ?? new PipelineSettings { Session = Session });

    /// <summary>tiny-sd with its UNet replaced by <paramref name="unetPath"/> (e.g. a variant).</summary>
    public static StableDiffusionPipeline WithUNet(string unetPath, PipelineSettings? settings = null)
    {
        string folder = Folder;
        var tokenizer = ClipTokenizer.FromDirectory(Path.Combine(folder, "tokenizer"));
        var config = SchedulerConfig.FromJsonFile(Path.Combine(folder, "scheduler", "scheduler_config.json"));
        return new StableDiffusionPipeline(
            tokenizer,
            TextEncoder.Load(Path.Combine(folder, "text_encoder", "model.onnx"), Session),
            UNet.Load(unetPath, Session),
            VaeDecoder.Load(Path.Combine(folder, "vae_decoder", "model.onnx"), Session),
            SchedulerCatalog.CreateFromConfig(config),
            settings: settings,
            vaeEncoder: VaeEncoder.Load(Path.Combine(folder, "vae_encoder", "model.onnx"), Session));
    }

    public static GenerationOptions SmallOptions(string scheduler = "Euler", SchedulerConfig? config = null) => new()
    {
        Prompt = "a photo of a cat",
        NegativePrompt = "blurry",
        Steps = 4,
        GuidanceScale = 7.5f,
        Width = 64,
        Height = 64,
        Seed = 1234,
        Scheduler = SchedulerCatalog.Create(scheduler, config ?? SchedulerConfig.StableDiffusion15),
    };
}
