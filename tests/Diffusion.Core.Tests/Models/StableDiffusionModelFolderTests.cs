using System.Text.Json;
using Diffusion.Core.Models;

namespace Diffusion.Core.Tests.Models;

public sealed class StableDiffusionModelFolderTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"sd-folder-{Guid.NewGuid():N}");

    [Fact]
    public void OpensTinySdAndReadsItsComponents()
    {
        string directory = SharedData.Require("models/tiny-sd");

        StableDiffusionModelFolder folder = StableDiffusionModelFolder.Open(directory);

        Assert.Equal(Path.Combine(folder.Directory, "unet", "model.onnx"), folder.UNetPath);
        Assert.True(File.Exists(folder.TextEncoderPath));
        Assert.True(File.Exists(folder.VaeDecoderPath));
        Assert.NotNull(folder.VaeEncoderPath);
        Assert.True(Directory.Exists(folder.TokenizerDirectory));
        Assert.True(File.Exists(folder.SchedulerConfigPath));
        Assert.Equal(0.18215f, folder.VaeScalingFactor); // tiny-sd has no VAE config.json
        Assert.Equal("OnnxStableDiffusionPipeline", folder.PipelineClassName);
        Assert.Equal("PNDMScheduler", folder.SchedulerClassName);
        Assert.Equal("CLIPTokenizer", folder.ComponentClassNames["tokenizer"]);
        Assert.False(folder.ComponentClassNames.ContainsKey("safety_checker")); // [null, null]
    }

    [Theory]
    [InlineData("unet/model.onnx")]
    [InlineData("text_encoder/model.onnx")]
    [InlineData("vae_decoder/model.onnx")]
    [InlineData("scheduler/scheduler_config.json")]
    public void AMissingRequiredComponentIsNamed(string component)
    {
        CreateFolder();
        string missing = Path.Combine(_root, component);
        File.Delete(missing);

        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionModelFolder.Open(_root));

        Assert.Equal(missing, error.Path);
    }

    [Fact]
    public void AMissingTokenizerFolderIsNamed()
    {
        CreateFolder();
        Directory.Delete(Path.Combine(_root, "tokenizer"), recursive: true);

        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionModelFolder.Open(_root));

        Assert.Equal(Path.Combine(_root, "tokenizer"), error.Path);
    }

    [Fact]
    public void TheVaeEncoderIsOptional()
    {
        CreateFolder();
        File.Delete(Path.Combine(_root, "vae_encoder", "model.onnx"));

        Assert.Null(StableDiffusionModelFolder.Open(_root).VaeEncoderPath);
    }

    [Fact]
    public void UnreadableModelIndexIsAModelLoadExceptionNamingIt()
    {
        CreateFolder();
        string index = Path.Combine(_root, "model_index.json");
        File.WriteAllText(index, "{ \"_class_name\": \"OnnxStableDiffusionPipeline\", ");

        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionModelFolder.Open(_root));

        Assert.Equal(index, error.Path);
        Assert.IsAssignableFrom<JsonException>(error.InnerException);
    }

    [Fact]
    public void AMissingModelIndexMeansNotAModelFolder()
    {
        CreateFolder();
        File.Delete(Path.Combine(_root, "model_index.json"));

        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionModelFolder.Open(_root));

        Assert.EndsWith("model_index.json", error.Path, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("vae_decoder")]
    [InlineData("vae")]
    public void VaeScalingFactorComesFromTheVaeConfig(string configFolder)
    {
        CreateFolder();
        Directory.CreateDirectory(Path.Combine(_root, configFolder));
        // SDXL's VAE: "scaling_factor": 0.13025 in vae/config.json.
        File.WriteAllText(Path.Combine(_root, configFolder, "config.json"), "{\"_class_name\": \"AutoencoderKL\", \"scaling_factor\": 0.13025}");

        Assert.Equal(0.13025f, StableDiffusionModelFolder.Open(_root).VaeScalingFactor);
    }

    [Fact]
    public void AMissingFolderIsNamed()
    {
        var error = Assert.Throws<ModelLoadException>(() => StableDiffusionModelFolder.Open(_root));

        Assert.Equal(_root, error.Path);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }

    private void CreateFolder()
    {
        // Open reads no model, so empty placeholder files stand in for the .onnx components.
        foreach (string file in (string[])["text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx", "vae_encoder/model.onnx",
                     "tokenizer/vocab.json", "tokenizer/merges.txt", "scheduler/scheduler_config.json"])
        {
            string path = Path.Combine(_root, file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "");
        }
        File.WriteAllText(Path.Combine(_root, "model_index.json"),
            "{\"_class_name\": \"OnnxStableDiffusionPipeline\", \"scheduler\": [\"diffusers\", \"PNDMScheduler\"], \"unet\": [\"diffusers\", \"OnnxRuntimeModel\"]}");
    }
}
