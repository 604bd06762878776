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
        Assert.Contains("VaeDecoderFallbackPath", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(MemoryMode.KeepLoaded)]
    [InlineData(MemoryMode.Sequential)]
    public void A_float16_vae_that_overflows_is_decoded_again_by_the_float32_fallback(MemoryMode memoryMode)
    {
        string folder = FolderWithOverflowingDecoder();
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings
        {
            Session = TinySd.Session,
            MemoryMode = memoryMode,
            VaeDecoderFallbackPath = Path.Combine(TinySdxl.BaseFolder, "vae_decoder", "model.onnx"),
        });
        for (int call = 0; call < 2; call++) // the second call reuses (or reloads) the fallback's session
        {
            GenerationResult result = pipeline.Generate(TinySdxl.Options("txt2img"));
            TinySdxl.AssertPixels("txt2img", result.Images);
        }
    }

    [Fact]
    public void A_float16_fallback_decoder_is_refused_when_it_is_needed()
    {
        string folder = FolderWithOverflowingDecoder();
        string fallback = TinySdxl.Variant("vae-decoder-fp16-overflow");
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session, VaeDecoderFallbackPath = fallback });
        var error = Assert.Throws<ModelContractException>(() => pipeline.Generate(TinySdxl.Options("txt2img") with { Steps = 1 }));
        Assert.Equal(fallback, error.ModelPath);
        Assert.Contains("must be a float32 decoder", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_fallback_decoder_is_named_when_the_pipeline_loads()
    {
        string missing = Path.Combine(TinySdxl.BaseFolder, "no-such-decoder.onnx");
        var error = Assert.Throws<ModelLoadException>(() => TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, VaeDecoderFallbackPath = missing }));
        Assert.Equal(missing, error.Path);
        Assert.Contains("VaeDecoderFallbackPath", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pooled_output_named_pooler_output_as_olive_exports_it_gives_the_same_image()
    {
        string folder = TinySdCopy.CreateFrom(TinySdxl.BaseFolder);
        File.Copy(TinySdxl.Variant("text-encoder-2-pooler-output"), Path.Combine(folder, "text_encoder_2", "model.onnx"), overwrite: true);
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session });
        Assert.Equal("pooler_output", pipeline.TextEncoder2!.PooledOutput!.Name);
        GenerationResult result = pipeline.Generate(TinySdxl.Options("txt2img"));
        TinySdxl.AssertClose(TinySdxl.Floats("txt2img-latents"), result.Latents, 1e-4f, "latents");
    }

    private static string FolderWithOverflowingDecoder()
    {
        string folder = TinySdCopy.CreateFrom(TinySdxl.BaseFolder);
        File.Delete(Path.Combine(folder, "vae_decoder", "model.onnx"));
        File.Copy(TinySdxl.Variant("vae-decoder-fp16-overflow"), Path.Combine(folder, "vae_decoder", "model.onnx"));
        return folder;
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
    public void Without_a_guidance_scale_sdxl_takes_diffusers_default_of_5_and_sd_7_5()
    {
        Assert.Equal(5f, ModelFamily.StableDiffusionXL.DefaultGuidanceScale);
        Assert.Equal(5f, ModelFamily.StableDiffusionXLRefiner.DefaultGuidanceScale);
        Assert.Equal(7.5f, ModelFamily.StableDiffusion.DefaultGuidanceScale);
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        GenerationOptions options = TinySdxl.Options("txt2img") with { Steps = 2 };
        float[] unset = pipeline.Generate(options with { GuidanceScale = null, DecodeImages = false }).Latents;
        Assert.Equal(pipeline.Generate(options with { GuidanceScale = 5f, DecodeImages = false }).Latents, unset);
        Assert.NotEqual(pipeline.Generate(options with { GuidanceScale = 7.5f, DecodeImages = false }).Latents, unset);
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
