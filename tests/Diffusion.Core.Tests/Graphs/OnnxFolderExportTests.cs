using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Models;

namespace Diffusion.Core.Tests.Graphs;

public sealed class OnnxFolderExportTests
{
    private static readonly SessionSettings s_session = new() { IntraOpThreads = 1 };

    private static string NewTarget() => Path.Combine(Directory.CreateTempSubdirectory("diffusion-core-export-").FullName, "exported");

    [Theory]
    [InlineData("sd1.safetensors", "sd1-safetensors")]
    [InlineData("xl.safetensors", "xl-safetensors")]
    [InlineData("xl-safetensors", null)]
    public void An_exported_folder_loads_as_onnx_and_generates_the_same_latents(string model, string? configs)
    {
        var settings = new PipelineSettings { Session = s_session, ConfigDirectory = configs is null ? null : GraphFixtures.Fixture(configs) };
        string target = NewTarget();
        OnnxFolderExport.Export(GraphFixtures.Fixture(model), target, settings);

        Assert.True(File.Exists(Path.Combine(target, "unet", "model.onnx")));
        Assert.True(File.Exists(Path.Combine(target, "unet", "model.onnx_data")));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(target)!, "*.partial-*"));
        var options = new GenerationOptions { Prompt = "a photo of a cat", Steps = 3, Seed = 9 };
        using StableDiffusionPipeline source = StableDiffusionPipeline.Load(GraphFixtures.Fixture(model), settings);
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(target, new PipelineSettings { Session = s_session });
        Assert.Equal(source.Family, exported.Family);
        Assert.Equal(source.Scheduler.Config.ClassName, exported.Scheduler.Config.ClassName);
        Assert.Equal(0f, ReferenceTensors.MaxAbsDifference(source.Generate(options).Latents, exported.Generate(options).Latents));
    }

    [Fact]
    public void An_existing_destination_is_refused_and_nothing_is_written()
    {
        string target = NewTarget();
        Directory.CreateDirectory(target);
        var error = Assert.Throws<InvalidOptionException>(() => OnnxFolderExport.Export(GraphFixtures.Fixture("xl-safetensors"), target));
        Assert.Equal("outputDirectory", error.OptionName);
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public void A_truncated_checkpoint_fails_before_anything_is_written()
    {
        string folder = GraphFixtures.CopyFolder("xl-safetensors");
        string unet = Path.Combine(folder, "unet", "diffusion_pytorch_model.safetensors");
        string target = NewTarget();
        var settings = new PipelineSettings { Session = s_session };
        File.WriteAllBytes(unet, File.ReadAllBytes(unet)[..^4096]);
        Assert.Equal(unet, Assert.Throws<WeightFileException>(() => OnnxFolderExport.Export(folder, target, settings)).FilePath);
        Assert.False(Directory.Exists(target));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(target)!));
    }
}
