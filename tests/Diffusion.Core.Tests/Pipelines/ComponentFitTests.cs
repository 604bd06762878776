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

/// <summary>Sizes the UNet cannot run at are reported as the option that set them, not as ONNX Runtime's Concat error.</summary>
public sealed class UnsupportedSizeTests
{
    [Theory]
    [InlineData(72, 64, "Width")]
    [InlineData(64, 72, "Height")]
    public void A_size_whose_latent_the_unet_cannot_halve_names_the_size_option(int width, int height, string option)
    {
        using var pipeline = TinySd.Load();
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(TinySd.SmallOptions() with { Width = width, Height = height, Steps = 1 }));

        Assert.Equal(option, error.OptionName);
        Assert.Contains($"{width}x{height}", error.Message, StringComparison.Ordinal);
        Assert.Contains("multiples of 64", error.Message, StringComparison.Ordinal);
        Assert.IsType<DiffusionException>(error.InnerException);
    }

    [Fact]
    public void An_init_image_too_small_for_the_unet_names_InitImage()
    {
        using var pipeline = TinySd.Load();
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(TinySd.SmallOptions() with
        {
            Width = null,
            Height = null,
            InitImage = new Diffusion.Core.Imaging.ImageBuffer(17, 9),
            Steps = 2,
        }));

        Assert.Equal(nameof(GenerationOptions.InitImage), error.OptionName);
        Assert.Contains("16x8 taken from the image (17x9)", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>A tokenizer with more ids than the text encoder embeds is refused at load, before any session exists.</summary>
public sealed class VocabularyFitTests
{
    [Fact]
    public void A_text_encoder_with_a_smaller_vocabulary_than_the_tokenizer_is_refused_at_load()
    {
        // TestData/lora/text_encoder.onnx embeds 1000 ids; CLIP's tokenizer has 49,408.
        string folder = TinySdCopy.Create();
        string encoder = Path.Combine(folder, "text_encoder", "model.onnx");
        File.Delete(encoder);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "TestData", "lora", "text_encoder.onnx"), encoder);

        var error = Assert.Throws<ModelContractException>(() => StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session }));

        Assert.Equal(encoder, error.ModelPath);
        Assert.Equal("text_model.embeddings.token_embedding.weight", error.TensorName);
        Assert.Contains("embeds 1000 token ids", error.Message, StringComparison.Ordinal);
        Assert.Contains("has 49408", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>When the folder's unet/config.json gives block_out_channels, sizes are checked against it before any model runs.</summary>
public sealed class ConfiguredSizeMultipleTests
{
    [Fact]
    public void A_size_off_the_unets_multiple_is_refused_before_any_model_runs()
    {
        // Two blocks: one down-sampling, so sizes must be multiples of 8 × 2 = 16 pixels.
        string folder = TinySdCopy.Create(("unet/config.json", """{"sample_size": 8, "block_out_channels": [32, 64]}"""));
        using var pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session });
        var progress = new SynchronousProgress<GenerationProgress>(_ => Assert.Fail("no step may run"));

        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(TinySd.SmallOptions() with { Width = 72, Height = 64 }, progress));

        Assert.Equal("Width", error.OptionName);
        Assert.Contains("multiples of 16 pixels", error.Message, StringComparison.Ordinal);
        Assert.Null(error.InnerException); // found from the config, not from a failed UNet run
    }

    [Fact]
    public void Sizes_on_the_multiple_run()
    {
        string folder = TinySdCopy.Create(("unet/config.json", """{"sample_size": 8, "block_out_channels": [32, 64]}"""));
        using var pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session });
        GenerationResult result = pipeline.Generate(TinySd.SmallOptions() with { Width = 64, Height = 64, Steps = 1 });
        Assert.Single(result.Images);
    }

    [Fact]
    public void A_malformed_block_list_names_the_config_file()
    {
        string folder = TinySdCopy.Create(("unet/config.json", """{"block_out_channels": 4}"""));
        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session }));
        Assert.EndsWith(Path.Combine("unet", "config.json"), error.Path, StringComparison.Ordinal);
    }
}
