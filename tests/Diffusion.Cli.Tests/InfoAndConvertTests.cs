using Diffusion.Imaging.Skia;

namespace Diffusion.Cli.Tests;

[Collection(ToolCollection.Name)]
public sealed class InfoAndConvertTests(InstalledTool tool) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-cli-info-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Fixture(string relative) => Path.Combine(tool.Repository, "tests", "Diffusion.Core.Tests", "TestData", relative);

    [Fact]
    public void Info_describes_a_folder_with_its_inputs()
    {
        var run = tool.Run(_folder, null, "info", Path.Combine(tool.Repository, "models", "demo-shapes"), "--io");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("diffusers ONNX folder", run.Output, StringComparison.Ordinal);
        Assert.Contains("unet inputs:  sample: float32[batch,4,height,width]", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Info_describes_a_single_file_checkpoint_and_a_lora()
    {
        var checkpoint = tool.Run(_folder, null, "info", Fixture("graphs/xl.safetensors"));
        Assert.True(checkpoint.ExitCode == 0, checkpoint.ToString());
        Assert.Contains("Stable Diffusion XL", checkpoint.Output, StringComparison.Ordinal);
        Assert.Contains("text_encoder_2", checkpoint.Output, StringComparison.Ordinal);

        var lora = tool.Run(_folder, null, "info", Fixture("lora/te_kohya.safetensors"));
        Assert.True(lora.ExitCode == 0, lora.ToString());
        Assert.Contains("kind:   LoRA", lora.Output, StringComparison.Ordinal);
        Assert.Contains("text encoder: kohya", lora.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_writes_an_onnx_folder_that_generates()
    {
        var convert = tool.Run(_folder, null, "convert", Fixture("graphs/sd1.safetensors"), "sd1-onnx", "--config", Fixture("graphs/sd1-safetensors"));
        Assert.True(convert.ExitCode == 0, convert.ToString());
        Assert.True(File.Exists(Path.Combine(_folder, "sd1-onnx", "unet", "model.onnx")));

        var generate = tool.Run(_folder, null, "generate", "--model", "sd1-onnx", "--steps", "2", "--width", "64", "--height", "64", "--output", "c.png");
        Assert.True(generate.ExitCode == 0, generate.ToString());
        Assert.Equal(64, SkiaImageCodec.Load(Path.Combine(_folder, "c.png")).Width);

        var again = tool.Run(_folder, null, "convert", Fixture("graphs/sd1.safetensors"), "sd1-onnx", "--config", Fixture("graphs/sd1-safetensors"));
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("exists", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        var run = tool.Run(_folder, null, "--help");
        Assert.Equal(0, run.ExitCode);
        foreach (string command in new[] { "generate", "models", "info", "convert" })
            Assert.Contains(command, run.Output, StringComparison.Ordinal);
    }
}
