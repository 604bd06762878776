using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>Loads the demo model folder as a pipeline, optionally with a deliberately wrong VAE scaling factor.</summary>
public static class DemoModel
{
    /// <summary>The model folder, relative to the repository root.</summary>
    public const string DefaultFolder = "models/demo-shapes";

    /// <summary>
    /// Composes a pipeline from the folder's parts (tokenizer, text encoder, UNet, VAE decoder, scheduler from
    /// <c>scheduler_config.json</c>) with a default image size of 64. <paramref name="vaeScalingFactor"/> replaces the
    /// folder's factor; pass it only to build a wrong pipeline for a control run.
    /// </summary>
    public static StableDiffusionPipeline Load(string folderPath, float? vaeScalingFactor = null, SessionSettings? session = null)
    {
        ArgumentNullException.ThrowIfNull(folderPath);
        var folder = StableDiffusionModelFolder.Open(folderPath);
        IScheduler scheduler = SchedulerCatalog.CreateFromConfig(SchedulerConfig.FromJsonFile(folder.SchedulerConfigPath));
        // The demo model is an SD 1.x-format folder: one tokenizer and text encoder.
        string tokenizerDirectory = folder.TokenizerDirectory ?? throw new ModelLoadException(Path.Combine(folder.Directory, "tokenizer"), "required tokenizer folder is missing.");
        string textEncoderPath = folder.TextEncoderPath ?? throw new ModelLoadException(Path.Combine(folder.Directory, "text_encoder", "model.onnx"), "required text encoder file is missing.");
        var tokenizer = ClipTokenizer.FromDirectory(tokenizerDirectory);
        TextEncoder? textEncoder = null;
        UNet? unet = null;
        VaeDecoder? vaeDecoder = null;
        try
        {
            textEncoder = TextEncoder.Load(textEncoderPath, session);
            unet = UNet.Load(folder.UNetPath, session);
            // Quantisation is for the text encoder and UNet; the decoder stays float32.
            vaeDecoder = VaeDecoder.Load(folder.VaeDecoderPath, session is null ? null : session with { Quantization = WeightQuantization.None, QuantizeConvolutions = false, QuantizeActivations = false });
            return new StableDiffusionPipeline(tokenizer, textEncoder, unet, vaeDecoder, scheduler,
                vaeScalingFactor ?? folder.VaeScalingFactor, SceneGeometry.ImageSize);
        }
        catch
        {
            vaeDecoder?.Dispose();
            unet?.Dispose();
            textEncoder?.Dispose();
            throw;
        }
    }

    /// <summary>The VAE scaling factor the folder declares (<c>vae_decoder/config.json</c>).</summary>
    public static float ScalingFactorOf(string folderPath) => StableDiffusionModelFolder.Open(folderPath).VaeScalingFactor;
}
