using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>What SD 2.x folders differ in: a v-prediction scheduler config and a larger unet/config.json sample_size.</summary>
public sealed class StableDiffusion2Tests
{
    [Fact]
    public void AVPredictionSchedulerConfigRunsEndToEnd()
    {
        string folder = TinySdCopy.Create(
            ("scheduler/scheduler_config.json", File.ReadAllText(Path.Combine(TinySd.Folder, "scheduler", "scheduler_config.json"))
                .Replace("\"epsilon\"", "\"v_prediction\"", StringComparison.Ordinal)));
        using var vPipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session });
        using var reference = TinySd.Load();
        GenerationOptions options = TinySd.SmallOptions() with { Scheduler = null };

        GenerationResult v = vPipeline.Generate(options);
        float[] epsilon = reference.Generate(options).Latents;
        float[] vInCode = reference.Generate(options with
        {
            Scheduler = SchedulerCatalog.CreateFromConfig(reference.Scheduler.Config with { PredictionType = "v_prediction" }),
        }).Latents;

        Assert.Equal("v_prediction", vPipeline.Scheduler.Config.PredictionType);
        ImageAssert.SingleImage(v, 64, 64);
        Assert.Equal(vInCode, v.Latents);
        Assert.NotEqual(epsilon, v.Latents);
    }

    [Fact]
    public void TheDefaultSizeComesFromTheUNetConfigSampleSize()
    {
        string folder = TinySdCopy.Create(("unet/config.json", "{\"sample_size\": 12, \"in_channels\": 4}"));
        using var pipeline = StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = TinySd.Session });

        GenerationResult result = pipeline.Generate(TinySd.SmallOptions() with { Width = null, Height = null, Steps = 1 });

        Assert.Equal(96, pipeline.DefaultImageSize);
        ImageAssert.SingleImage(result, 96, 96);
    }
}
