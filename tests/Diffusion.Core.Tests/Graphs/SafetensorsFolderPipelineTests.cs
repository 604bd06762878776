using Diffusion.Core.Execution;
using Diffusion.Core.Imaging;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Models;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// Whole pipelines on a diffusers folder of safetensors (graphs built by the library) against the same weights exported
/// by torch.onnx.export (tools/reference-data/graphs/generate_tiny_pipelines.py): the library must not be able to tell
/// them apart.
/// </summary>
public sealed class SafetensorsFolderPipelineTests
{
    private static PipelineSettings Settings => new() { Session = new SessionSettings { IntraOpThreads = 1 } };

    private static ImageBuffer Photo()
    {
        var pixels = new byte[64 * 64 * 3];
        for (int i = 0; i < pixels.Length; i++)
            pixels[i] = (byte)(i * 37 % 251);
        return new ImageBuffer(64, 64, pixels);
    }

    [Theory]
    [InlineData("sd1")]
    [InlineData("xl")]
    public void Text_to_image_equals_the_torch_export(string family)
    {
        var options = new GenerationOptions { Prompt = "a photo of a cat", NegativePrompt = "blurry", Steps = 4, Seed = 7 };
        using StableDiffusionPipeline built = StableDiffusionPipeline.Load(GraphFixtures.Fixture($"{family}-safetensors"), Settings);
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture($"{family}-onnx"), Settings);
        Assert.Equal(exported.Family, built.Family);
        GenerationResult a = built.Generate(options);
        GenerationResult b = exported.Generate(options);
        Assert.Equal(b.LatentShape, a.LatentShape);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(a.Latents, b.Latents), 0f, GraphFixtures.BuiltVersusExportLatents);
        Assert.InRange(MaxPixelDifference(a.Images[0], b.Images[0]), 0, 1);
    }

    [Theory]
    [InlineData("sd1")]
    [InlineData("xl")]
    public void Image_to_image_uses_the_built_vae_encoder(string family)
    {
        var options = new GenerationOptions { Prompt = "an oil painting", Steps = 4, Seed = 11, InitImage = Photo(), Strength = 0.6 };
        using StableDiffusionPipeline built = StableDiffusionPipeline.Load(GraphFixtures.Fixture($"{family}-safetensors"), Settings);
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture($"{family}-onnx"), Settings);
        GenerationResult a = built.Generate(options);
        GenerationResult b = exported.Generate(options);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(a.Latents, b.Latents), 0f, GraphFixtures.BuiltVersusExportLatents);
    }

    [Fact]
    public void Clip_skip_reads_the_final_norm_of_the_built_encoder()
    {
        var options = new GenerationOptions { Prompt = "a photo of a cat", Steps = 2, Seed = 3, ClipSkip = 2 };
        using StableDiffusionPipeline built = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-safetensors"), Settings);
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-onnx"), Settings);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(built.Generate(options).Latents, exported.Generate(options).Latents), 0f, GraphFixtures.BuiltVersusExportLatents);
    }

    [Fact]
    public void Lora_and_textual_inversion_apply_to_built_models_as_to_exported_ones()
    {
        string adapters = GraphFixtures.Fixture("sd1-adapters");
        PipelineSettings settings = Settings with
        {
            Loras = [new LoraFile(Path.Combine(adapters, "lora.safetensors"), 0.8f)],
            TextualInversions = [Path.Combine(adapters, "cat-toy.safetensors")],
        };
        var options = new GenerationOptions { Prompt = "a photo of cat-toy", Steps = 3, Seed = 5 };
        using StableDiffusionPipeline built = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-safetensors"), settings);
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-onnx"), settings);
        GenerationResult a = built.Generate(options);
        GenerationResult b = exported.Generate(options);
        Assert.Equal(5, a.LoraReports.Sum(r => r.MatchedModules.Count));
        Assert.Equal(b.LoraReports.Sum(r => r.MatchedModules.Count), a.LoraReports.Sum(r => r.MatchedModules.Count));
        Assert.InRange(ReferenceTensors.MaxAbsDifference(a.Latents, b.Latents), 0f, GraphFixtures.BuiltVersusExportLatents);

        // The adapters change the result (so the equality above is not two unadapted runs).
        using StableDiffusionPipeline plain = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-safetensors"), Settings);
        Assert.True(ReferenceTensors.MaxAbsDifference(plain.Generate(options).Latents, a.Latents) > 1e-2f);
    }

    [Fact]
    public void A_folder_missing_the_unet_weights_says_what_it_looks_for()
    {
        string folder = GraphFixtures.CopyFolder("sd1-safetensors");
        File.Delete(Path.Combine(folder, "unet", "diffusion_pytorch_model.safetensors"));
        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionPipeline.Load(folder, Settings));
        Assert.Contains("diffusion_pytorch_model.safetensors", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_unet_fails_before_any_session_naming_the_file()
    {
        string folder = GraphFixtures.CopyFolder("sd1-safetensors");
        string file = Path.Combine(folder, "unet", "diffusion_pytorch_model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        var error = Assert.Throws<WeightFileException>(() => StableDiffusionPipeline.Load(folder, Settings));
        Assert.Equal(file, error.FilePath);
        Assert.Equal(before, SessionFactory.SessionsCreatedOnCurrentThread);
    }

    private static int MaxPixelDifference(ImageBuffer a, ImageBuffer b)
    {
        int max = 0;
        for (int i = 0; i < a.Pixels.Length; i++)
            max = Math.Max(max, Math.Abs(a.Pixels[i] - b.Pixels[i]));
        return max;
    }

}
