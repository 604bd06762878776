using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>Components that do not fit each other are refused when the pipeline is composed, naming both files.</summary>
public sealed class ComponentFitTests
{
    [Fact]
    public void A_text_encoder_narrower_than_the_unets_text_input_is_refused_at_composition()
    {
        string folder = TinySd.Folder;
        // TestData/lora/text_encoder.onnx gives 16-wide hidden states; tiny-sd's UNet takes 32-wide encoder_hidden_states.
        string narrowEncoder = Path.Combine(AppContext.BaseDirectory, "TestData", "lora", "text_encoder.onnx");
        using var unet = UNet.Load(Path.Combine(folder, "unet", "model.onnx"), TinySd.Session);
        using var textEncoder = TextEncoder.Load(narrowEncoder, TinySd.Session);
        using var vaeDecoder = VaeDecoder.Load(Path.Combine(folder, "vae_decoder", "model.onnx"), TinySd.Session);

        var error = Assert.Throws<ModelContractException>(() => new StableDiffusionPipeline(
            ClipTokenizer.FromDirectory(Path.Combine(folder, "tokenizer")), textEncoder, unet, vaeDecoder,
            SchedulerCatalog.Create("Euler", SchedulerConfig.StableDiffusion15)));

        Assert.Equal(unet.ModelPath, error.ModelPath);
        Assert.Equal(unet.EncoderHiddenStatesInput.Name, error.TensorName);
        Assert.Contains("32 wide", error.Message, StringComparison.Ordinal);
        Assert.Contains(narrowEncoder, error.Message, StringComparison.Ordinal);
        Assert.Contains("gives 16", error.Message, StringComparison.Ordinal);
    }
}
