using Diffusion.Core.Imaging;
using Diffusion.Core.Metadata;
using Diffusion.Imaging.Skia;

namespace Diffusion.Cli.Tests;

[Collection(ToolCollection.Name)]
public sealed class GenerateTests(InstalledTool tool) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-cli-generate-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string At(string name) => Path.Combine(_folder, name);

    [Fact]
    public void The_installed_tool_makes_a_png_with_the_built_in_model_and_its_settings()
    {
        var run = tool.Run(_folder, null, "generate", "--steps", "4", "--output", "demo.png");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Wrote demo.png (64x64)", run.Output, StringComparison.Ordinal);
        byte[] png = File.ReadAllBytes(At("demo.png"));
        ImageBuffer image = SkiaImageCodec.Decode(png);
        Assert.Equal((64, 64), (image.Width, image.Height));
        GenerationParameters settings = GenerationParameters.Parse(PngTextChunk.Read(png, "parameters")!);
        Assert.Equal("a large red circle on a blue background, center", settings.Prompt);
        Assert.Equal(4, settings.GetInteger("Steps"));
        Assert.Equal(42UL, settings.GetUnsigned("Seed"));
        Assert.Equal((64, 64), settings.Size);
        Assert.Equal("demo-shapes", settings["Model"]);
        Assert.Matches("^[0-9a-f]{10}$", settings["Model hash"]);
        Assert.Equal("CPU", settings["RNG"]);
    }

    [Fact]
    public void Quantization_makes_a_close_image_and_is_refused_on_a_gpu_provider()
    {
        var plain = tool.Run(_folder, null, "generate", "--steps", "6", "--output", "plain.png");
        var int8 = tool.Run(_folder, null, "generate", "--steps", "6", "--quantization", "Int8", "--output", "int8.png");

        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.True(int8.ExitCode == 0, int8.ToString());
        byte[] a = SkiaImageCodec.Load(At("plain.png")).Pixels, b = SkiaImageCodec.Load(At("int8.png")).Pixels;
        double mse = a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Average();
        Assert.True(mse > 0 && 10 * Math.Log10(255.0 * 255.0 / mse) > 30, $"PSNR {10 * Math.Log10(255.0 * 255.0 / mse):F1} dB");

        var convolutions = tool.Run(_folder, null, "generate", "--steps", "6", "--quantize-convolutions", "--output", "conv.png");
        Assert.True(convolutions.ExitCode == 0, convolutions.ToString());
        byte[] c = SkiaImageCodec.Load(At("conv.png")).Pixels;
        double convMse = a.Zip(c, (x, y) => (double)(x - y) * (x - y)).Average();
        Assert.True(convMse > 0 && 10 * Math.Log10(255.0 * 255.0 / convMse) > 25, $"PSNR {10 * Math.Log10(255.0 * 255.0 / convMse):F1} dB");

        var integer = tool.Run(_folder, null, "generate", "--steps", "6", "--quantization", "Int8", "--quantize-convolutions", "--quantize-activations", "--output", "integer.png");
        Assert.True(integer.ExitCode == 0, integer.ToString());
        byte[] d = SkiaImageCodec.Load(At("integer.png")).Pixels;
        double integerMse = a.Zip(d, (x, y) => (double)(x - y) * (x - y)).Average();
        Assert.True(integerMse > 0 && 10 * Math.Log10(255.0 * 255.0 / integerMse) > 25, $"PSNR {10 * Math.Log10(255.0 * 255.0 / integerMse):F1} dB");
        var alone = tool.Run(_folder, null, "generate", "--quantize-activations", "--output", "never.png");
        Assert.Equal(2, alone.ExitCode);
        Assert.Contains("--quantize-activations", alone.Output + alone.Error, StringComparison.Ordinal);

        var gpu = tool.Run(_folder, null, "generate", "--quantization", "Int4", "--provider", "cuda", "--output", "never.png");
        Assert.Equal(2, gpu.ExitCode);
        Assert.Contains("Quantization", gpu.Output + gpu.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(At("never.png")));
    }

    [Fact]
    public void Optimization_level_is_taken_and_a_bad_or_conflicting_one_is_a_command_line_error()
    {
        var extended = tool.Run(_folder, null, "generate", "--steps", "3", "--optimization-level", "Extended", "--output", "extended.png");
        Assert.True(extended.ExitCode == 0, extended.ToString());
        Assert.True(File.Exists(At("extended.png")));

        var unknown = tool.Run(_folder, null, "generate", "--optimization-level", "Fastest", "--output", "never.png");
        Assert.Equal(2, unknown.ExitCode);
        var conflicting = tool.Run(_folder, null, "generate", "--optimization-level", "All", "--quantization", "Int8", "--output", "never.png");
        Assert.Equal(2, conflicting.ExitCode);
        Assert.Contains("level", conflicting.Output + conflicting.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(At("never.png")));
    }

    [Fact]
    public void The_memory_mode_is_chosen_automatically_by_default_and_says_why()
    {
        var automatic = tool.Run(_folder, null, "generate", "--steps", "2", "--output", "auto.png");
        Assert.True(automatic.ExitCode == 0, automatic.ToString());
        Assert.Contains("Memory: Auto chose KeepLoaded: all models loaded need", automatic.Output, StringComparison.Ordinal);

        var sequential = tool.Run(_folder, null, "generate", "--steps", "2", "--memory-mode", "Sequential", "--output", "sequential.png");
        Assert.True(sequential.ExitCode == 0, sequential.ToString());
        Assert.DoesNotContain("Memory:", sequential.Output, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(At("auto.png")), File.ReadAllBytes(At("sequential.png")));
    }

    [Fact]
    public void From_re_creates_an_image_bit_for_bit_from_its_png()
    {
        var first = tool.Run(_folder, null, "generate", "--prompt", "a small (green:1.2) square, top left", "--weighted", "--negative", "blurry",
            "--scheduler", "DPM++ 2M Karras", "--steps", "5", "--seed", "1234", "--guidance", "6", "--count", "2", "--rng", "numpy", "--output", "made.png");
        Assert.True(first.ExitCode == 0, first.ToString());

        var again = tool.Run(_folder, null, "generate", "--from", "made-1.png", "--output", "again.png");

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(SkiaImageCodec.Load(At("made-1.png")).Pixels, SkiaImageCodec.Load(At("again.png")).Pixels);
        Assert.Equal(PngTextChunk.Read(File.ReadAllBytes(At("made-1.png")), "parameters"), PngTextChunk.Read(File.ReadAllBytes(At("again.png")), "parameters"));
        Assert.NotEqual(SkiaImageCodec.Load(At("made-0.png")).Pixels, SkiaImageCodec.Load(At("made-1.png")).Pixels);

        // An option given on the command line wins over the PNG's.
        var changed = tool.Run(_folder, null, "generate", "--from", "made-1.png", "--seed", "5", "--output", "changed.png");
        Assert.True(changed.ExitCode == 0, changed.ToString());
        Assert.Equal(5UL, GenerationParameters.Parse(PngTextChunk.Read(File.ReadAllBytes(At("changed.png")), "parameters")!).GetUnsigned("Seed"));
    }

    [Fact]
    public void A_step_cached_image_records_its_cache_and_from_makes_it_again()
    {
        var plain = tool.Run(_folder, null, "generate", "--steps", "6", "--seed", "3", "--output", "plain.png");
        var cached = tool.Run(_folder, null, "generate", "--steps", "6", "--seed", "3", "--deep-cache", "3:1", "--output", "cached.png");
        Assert.True(plain.ExitCode == 0 && cached.ExitCode == 0, plain + "\n" + cached);
        Assert.Equal("3:1", GenerationParameters.Parse(PngTextChunk.Read(File.ReadAllBytes(At("cached.png")), "parameters")!)["Step cache"]);
        Assert.NotEqual(SkiaImageCodec.Load(At("plain.png")).Pixels, SkiaImageCodec.Load(At("cached.png")).Pixels);

        var again = tool.Run(_folder, null, "generate", "--from", "cached.png", "--output", "cached-again.png");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(SkiaImageCodec.Load(At("cached.png")).Pixels, SkiaImageCodec.Load(At("cached-again.png")).Pixels);
    }

    [Fact]
    public void Image_to_image_records_its_strength_and_from_asks_for_the_image()
    {
        var source = tool.Run(_folder, null, "generate", "--steps", "3", "--output", "start.png");
        Assert.True(source.ExitCode == 0, source.ToString());
        var img2img = tool.Run(_folder, null, "generate", "--image", "start.png", "--strength", "0.5", "--steps", "4", "--output", "painted.png");
        Assert.True(img2img.ExitCode == 0, img2img.ToString());
        Assert.Equal(0.5, GenerationParameters.Parse(PngTextChunk.Read(File.ReadAllBytes(At("painted.png")), "parameters")!).GetNumber("Denoising strength"));

        var missing = tool.Run(_folder, null, "generate", "--from", "painted.png", "--output", "x.png");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--image", missing.Error, StringComparison.Ordinal);

        var again = tool.Run(_folder, null, "generate", "--from", "painted.png", "--image", "start.png", "--output", "painted-again.png");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(SkiaImageCodec.Load(At("painted.png")).Pixels, SkiaImageCodec.Load(At("painted-again.png")).Pixels);
    }

    [Theory]
    [InlineData(new[] { "--steps", "0" }, "--steps")]
    [InlineData(new[] { "--width", "100" }, "--width")]
    [InlineData(new[] { "--from", "missing.png" }, "missing.png")]
    [InlineData(new[] { "--strength", "0.5" }, "--image")]
    [InlineData(new[] { "--output", "x.gif" }, "x.gif")]
    public void Bad_command_lines_exit_2_naming_the_option_before_any_work(string[] arguments, string named)
    {
        var run = tool.Run(_folder, null, ["generate", .. arguments]);
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(named, run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Loaded", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_png_without_settings_is_refused_by_from()
    {
        SkiaImageCodec.Save(new ImageBuffer(8, 8), At("plain.png"));
        var run = tool.Run(_folder, null, "generate", "--from", "plain.png");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no 'parameters' text", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Previews_are_written_every_n_steps()
    {
        var run = tool.Run(_folder, null, "generate", "--steps", "6", "--preview", "previews", "--preview-every", "2", "--output", "p.png");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(["step-002.png", "step-004.png", "step-006.png"], Directory.GetFiles(At("previews")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(8, SkiaImageCodec.Load(At("previews/step-006.png")).Width);
    }

    [Fact]
    public void Previews_decode_through_a_small_vae_when_given_one()
    {
        string taesd = Diffusion.Testing.SharedData.Require("models/taesd");
        var run = tool.Run(_folder, null, "generate", "--steps", "4", "--preview", "previews", "--preview-every", "4", "--preview-vae", taesd, "--output", "p.png");
        Assert.True(run.ExitCode == 0, run.ToString());
        ImageBuffer preview = SkiaImageCodec.Load(At("previews/step-004.png"));
        Assert.Equal((64, 64), (preview.Width, preview.Height)); // decoded to full size, not the 8x8 latent projection

        var alone = tool.Run(_folder, null, "generate", "--preview-vae", taesd);
        Assert.Equal(2, alone.ExitCode);
        Assert.Contains("--preview", alone.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_model_is_an_error_naming_it()
    {
        var run = tool.Run(_folder, null, "generate", "--model", "no-such-folder");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("no-such-folder", run.Error, StringComparison.Ordinal);
    }
}
