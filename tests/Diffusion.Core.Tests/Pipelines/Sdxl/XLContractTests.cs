using Diffusion.Core.Families;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Pipelines.Sdxl;

/// <summary>What an SDXL folder must hold and what fits: each contract of the optimum layout refused with a typed error naming the file and input.</summary>
public sealed class XLContractTests
{
    private static string CopyWithout(string source, string relativeDirectory)
    {
        string copy = TinySdCopy.CreateFrom(source);
        Directory.Delete(Path.Combine(copy, relativeDirectory), recursive: true);
        return copy;
    }

    [Theory]
    [InlineData("text_encoder_2", "text_encoder_2")]
    [InlineData("tokenizer_2", "tokenizer_2")]
    [InlineData("text_encoder", "text_encoder")]
    public void A_base_folder_without_one_of_its_text_encoders_fails_naming_it(string removed, string named)
    {
        string folder = CopyWithout(TinySdxl.BaseFolder, removed);
        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session }));
        Assert.Contains(named, error.Path, StringComparison.Ordinal);
    }

    [Fact]
    public void An_sdxl_unet_missing_text_embeds_fails_at_load_naming_it()
    {
        string unet = TinySdxl.Path("unet-missing-text-embeds", "model.onnx");
        var error = Assert.Throws<ModelContractException>(() => TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, UNetModelPath = unet }));
        Assert.Equal("text_embeds", error.TensorName);
        Assert.Equal(unet, error.ModelPath);
    }

    [Fact]
    public void A_refiner_unet_in_a_base_folder_is_refused_for_its_text_width()
    {
        string unet = Path.Combine(TinySdxl.RefinerFolder, "unet", "model.onnx");
        var error = Assert.Throws<ModelContractException>(() => TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, UNetModelPath = unet }));
        Assert.Equal("encoder_hidden_states", error.TensorName);
        Assert.Contains("text_encoder_2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_refiner_whose_model_index_denies_the_aesthetic_score_is_refused_naming_time_ids()
    {
        string index = File.ReadAllText(Path.Combine(TinySdxl.RefinerFolder, "model_index.json"))
            .Replace("\"requires_aesthetics_score\": true", "\"requires_aesthetics_score\": false", StringComparison.Ordinal);
        string folder = TinySdCopy.CreateFrom(TinySdxl.RefinerFolder, ("model_index.json", index));
        var error = Assert.Throws<ModelContractException>(() => StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session }));
        Assert.Equal("time_ids", error.TensorName);
        Assert.Contains("requires_aesthetics_score", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_family_comes_from_the_unet_inputs_when_the_class_name_is_unknown()
    {
        string index = File.ReadAllText(Path.Combine(TinySdxl.BaseFolder, "model_index.json"))
            .Replace("ORTStableDiffusionXLPipeline", "SomeOtherExporterPipeline", StringComparison.Ordinal);
        string folder = TinySdCopy.CreateFrom(TinySdxl.BaseFolder, ("model_index.json", index));
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session });
        Assert.Same(ModelFamily.StableDiffusionXL, pipeline.Family);
    }

    [Fact]
    public void Loras_are_refused_for_the_refiner_by_option_name()
    {
        var error = Assert.Throws<InvalidOptionException>(() => TinySdxl.LoadRefiner(new PipelineSettings { Session = TinySd.Session, LoraDirectory = Path.GetTempPath() }));
        Assert.Equal(nameof(PipelineSettings.LoraDirectory), error.OptionName);
    }

    [Fact]
    public void A_text_encoder_without_per_layer_outputs_cannot_give_the_penultimate_layer()
    {
        // tiny-sd's text encoder has only last_hidden_state and pooler_output: no raw penultimate state for SDXL.
        using var encoder = TextEncoder.Load(Path.Combine(TinySd.Folder, "text_encoder", "model.onnx"), TinySd.Session);
        var tokenizer = ClipTokenizer.FromDirectory(Path.Combine(TinySd.Folder, "tokenizer"));
        var error = Assert.Throws<ModelContractException>(() => new PromptEmbedder(tokenizer, encoder, EmbeddingLayer.PenultimateRaw, includePooled: true));
        Assert.Equal("hidden_states.N", error.TensorName);
        Assert.Contains("output_hidden_states", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_float16_vae_that_overflows_never_returns_an_image_and_names_the_file_and_the_fix()
    {
        string decoder = TinySdxl.Variant("vae-decoder-fp16-overflow");
        string folder = TinySdCopy.CreateFrom(TinySdxl.BaseFolder);
        File.Delete(Path.Combine(folder, "vae_decoder", "model.onnx"));
        File.Copy(decoder, Path.Combine(folder, "vae_decoder", "model.onnx"));
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session });
        var error = Assert.Throws<NumericalInstabilityException>(() => pipeline.Generate(TinySdxl.Options("txt2img") with { Steps = 1 }));
        Assert.Equal("VAE decoder", error.Component);
        Assert.Contains("force_upcast", error.Message, StringComparison.Ordinal);
        Assert.Contains("fp16-safe VAE", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>The hand-off and size-conditioning options are checked before any model runs, each error naming its option.</summary>
public sealed class XLOptionTests
{
    private static readonly LatentImage Latents = new(new float[4 * 8 * 8], 1, 4, 8, 8);

    [Theory]
    [InlineData(0.0, null, "DenoisingEnd")]
    [InlineData(1.0, null, "DenoisingEnd")]
    [InlineData(null, 1.5, "DenoisingStart")]
    [InlineData(0.5, 0.7, "DenoisingStart")]
    public void Denoising_fractions_are_between_zero_and_one_and_ordered(double? end, double? start, string option)
    {
        var options = new GenerationOptions { Prompt = "x", DenoisingEnd = end, DenoisingStart = start, InitLatents = Latents };
        Assert.Equal(option, Assert.Throws<InvalidOptionException>(options.Validate).OptionName);
    }

    [Fact]
    public void Denoising_start_needs_something_to_start_from()
        => Assert.Equal("DenoisingStart", Assert.Throws<InvalidOptionException>(new GenerationOptions { DenoisingStart = 0.5 }.Validate).OptionName);

    [Fact]
    public void Init_latents_must_hold_their_shape_and_fit_the_batch_and_size()
    {
        Assert.Equal("InitLatents", Assert.Throws<InvalidOptionException>(new GenerationOptions { InitLatents = Latents with { Values = new float[3] } }.Validate).OptionName);
        Assert.Equal("InitLatents", Assert.Throws<InvalidOptionException>(new GenerationOptions { ImagesPerPrompt = 3, InitLatents = Latents with { Batch = 2, Values = new float[2 * 256] } }.Validate).OptionName);
        Assert.Equal("InitLatents", Assert.Throws<InvalidOptionException>(new GenerationOptions { InitLatents = Latents, Width = 128 }.Validate).OptionName);
        float[] nan = new float[256];
        nan[3] = float.NaN;
        Assert.Equal("InitLatents", Assert.Throws<InvalidOptionException>(new GenerationOptions { InitLatents = Latents with { Values = nan } }.Validate).OptionName);
    }

    [Fact]
    public void Size_conditioning_is_bounded()
    {
        Assert.Equal("OriginalSize", Assert.Throws<InvalidOptionException>(new GenerationOptions { OriginalSize = new PixelSize(0, 64) }.Validate).OptionName);
        Assert.Equal("CropLeft", Assert.Throws<InvalidOptionException>(new GenerationOptions { CropLeft = -1 }.Validate).OptionName);
        Assert.Equal("AestheticScore", Assert.Throws<InvalidOptionException>(new GenerationOptions { AestheticScore = float.NaN }.Validate).OptionName);
    }

    [Fact]
    public void Latents_with_a_channel_count_the_unet_does_not_work_in_are_refused()
    {
        using StableDiffusionPipeline refiner = TinySdxl.LoadRefiner();
        var error = Assert.Throws<InvalidOptionException>(() => refiner.Generate(new GenerationOptions { Prompt = "x", InitLatents = new LatentImage(new float[3 * 64], 1, 3, 8, 8), DenoisingStart = 0.5 }));
        Assert.Equal("InitLatents", error.OptionName);
    }
}
