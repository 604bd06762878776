using System.Numerics.Tensors;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Pipelines;

public sealed class StableDiffusionPipelineTests
{
    [Theory]
    [InlineData("DDIM")]
    [InlineData("Euler")]
    [InlineData("DPM++ 2M")]
    [InlineData("PNDMScheduler")]
    public void GeneratesAFiniteImageWithEachScheduler(string scheduler)
    {
        using var pipeline = TinySd.Load();
        GenerationResult result = pipeline.Generate(TinySd.SmallOptions(scheduler));

        ImageAssert.SingleImage(result, 64, 64);
        Assert.All(result.Latents, value => Assert.True(float.IsFinite(value)));
        Assert.Equal([1, 4, 8, 8], result.LatentShape);
    }

    [Theory]
    [InlineData("unet-timestep-int64/model.onnx")]
    [InlineData("unet-timestep-scalar/model.onnx")]
    [InlineData("unet-external-data/model.onnx")]
    public void UNetVariantsGiveTheFp32Result(string variant)
    {
        using var reference = TinySd.Load();
        using var pipeline = TinySd.WithUNet(SharedData.Require(Path.Combine("models/tiny-sd-variants", variant)));
        // Timesteps of the SD 1.5 leading schedule are integers, so an int64 timestep loses nothing.
        float[] expected = reference.Generate(TinySd.SmallOptions("DDIM")).Latents;
        float[] actual = pipeline.Generate(TinySd.SmallOptions("DDIM")).Latents;

        Assert.True(MaxAbsDifference(actual, expected) < 1e-4f);
    }

    [Fact]
    public void Fp16UNetStaysCloseToTheFp32Result()
    {
        using var reference = TinySd.Load();
        using var pipeline = TinySd.WithUNet(SharedData.Require("models/tiny-sd-variants/unet-fp16/model.onnx"));
        float[] expected = reference.Generate(TinySd.SmallOptions("Euler")).Latents;
        GenerationResult result = pipeline.Generate(TinySd.SmallOptions("Euler"));

        ImageAssert.SingleImage(result, 64, 64);
        // fp16 activations: the variants' README measures |fp16 − fp32| ≈ 0.004 mean per UNet call (std ≈ 1);
        // guidance 7.5 amplifies it, so compare relative to the latents' own magnitude.
        float relative = MeanAbsDifference(result.Latents, expected) / MeanAbs(expected);
        Assert.True(relative < 0.02f, $"mean |fp16 − fp32| / mean |fp32| = {relative}");
    }

    [Fact]
    public void BatchedGuidanceEqualsTwoSeparateCalls()
    {
        using var batched = TinySd.Load(new PipelineSettings { Session = TinySd.Session, GuidanceMode = ClassifierFreeGuidanceMode.Batched });
        using var separate = TinySd.Load(new PipelineSettings { Session = TinySd.Session, GuidanceMode = ClassifierFreeGuidanceMode.Separate });

        float[] a = batched.Generate(TinySd.SmallOptions("Euler")).Latents;
        float[] b = separate.Generate(TinySd.SmallOptions("Euler")).Latents;

        Assert.True(MaxAbsDifference(a, b) < 1e-4f, $"max diff {MaxAbsDifference(a, b)}");
    }

    [Fact]
    public void MatchesAHandWrittenDiffusersLoop()
    {
        // diffusers' StableDiffusionPipeline.__call__, written out with the parts: negative then positive
        // embeddings, latents = randn(shape, generator) * init_noise_sigma, per step scale → UNet on each half →
        // uncond + g·(cond − uncond) → step, then latents / scaling_factor → VAE.
        using var pipeline = TinySd.Load(new PipelineSettings { Session = TinySd.Session, GuidanceMode = ClassifierFreeGuidanceMode.Separate });
        GenerationOptions options = TinySd.SmallOptions("DPM++ 2M");
        float[] actual = pipeline.Generate(options).Latents;

        IScheduler scheduler = SchedulerCatalog.Create("DPM++ 2M", SchedulerConfig.StableDiffusion15);
        scheduler.SetTimesteps(options.Steps);
        int width = pipeline.TextEncoder.GetHiddenSize();
        float[] uncond = new float[77 * width], cond = new float[77 * width];
        pipeline.TextEncoder.Encode(pipeline.Tokenizer.Encode(options.NegativePrompt).Ids, 1, 77, uncond);
        pipeline.TextEncoder.Encode(pipeline.Tokenizer.Encode(options.Prompt).Ids, 1, 77, cond);
        float[] latents = new float[4 * 8 * 8];
        new TorchCpuRandomSource(options.Seed!.Value).NextStandardNormal(latents);
        for (int i = 0; i < latents.Length; i++)
            latents[i] *= scheduler.InitNoiseSigma;
        float[] input = new float[latents.Length], noiseUncond = new float[latents.Length], noiseCond = new float[latents.Length];
        for (int i = 0; i < scheduler.Timesteps.Length; i++)
        {
            scheduler.ScaleModelInput(latents, i, input);
            pipeline.UNet.Predict(input, 1, 8, 8, scheduler.Timesteps[i], uncond, 77, noiseUncond);
            pipeline.UNet.Predict(input, 1, 8, 8, scheduler.Timesteps[i], cond, 77, noiseCond);
            for (int j = 0; j < latents.Length; j++)
                noiseCond[j] = noiseUncond[j] + (options.GuidanceScale ?? Diffusion.Core.Families.ModelFamily.StableDiffusion.DefaultGuidanceScale) * (noiseCond[j] - noiseUncond[j]);
            scheduler.Step(noiseCond, i, latents, new TorchCpuRandomSource(0));
        }

        Assert.True(MaxAbsDifference(actual, latents) < 1e-5f, $"max diff {MaxAbsDifference(actual, latents)}");
    }

    [Fact]
    public void GuidanceOfOneSkipsTheUnconditionalPass()
    {
        using var pipeline = TinySd.Load();
        // With g ≤ 1 the negative prompt must play no part (diffusers: do_classifier_free_guidance = g > 1).
        GenerationResult a = pipeline.Generate(TinySd.SmallOptions() with { GuidanceScale = 1f, NegativePrompt = "one thing" });
        GenerationResult b = pipeline.Generate(TinySd.SmallOptions() with { GuidanceScale = 1f, NegativePrompt = "another" });
        GenerationResult guided = pipeline.Generate(TinySd.SmallOptions() with { GuidanceScale = 1.5f, NegativePrompt = "another" });

        Assert.Equal(a.Latents, b.Latents);
        Assert.NotEqual(a.Latents, guided.Latents);
    }

    [Fact]
    public void SameSeedGivesTheSameImageAndAnotherSeedDoesNot()
    {
        using var pipeline = TinySd.Load();
        byte[] first = pipeline.Generate(TinySd.SmallOptions("Euler a")).Images[0].Pixels;
        byte[] again = pipeline.Generate(TinySd.SmallOptions("Euler a")).Images[0].Pixels;
        byte[] other = pipeline.Generate(TinySd.SmallOptions("Euler a") with { Seed = 99 }).Images[0].Pixels;

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void ImagesPerPromptGivesDistinctImagesFromOneNoiseDraw()
    {
        using var pipeline = TinySd.Load();
        GenerationResult result = pipeline.Generate(TinySd.SmallOptions() with { ImagesPerPrompt = 2 });

        Assert.Equal(2, result.Images.Count);
        Assert.Equal([2, 4, 8, 8], result.LatentShape);
        Assert.NotEqual(result.Images[0].Pixels, result.Images[1].Pixels);
    }

    [Fact]
    public void ReportsProgressForEveryStep()
    {
        using var pipeline = TinySd.Load();
        var reports = new List<GenerationProgress>();
        pipeline.Generate(TinySd.SmallOptions() with { Steps = 5 }, new SynchronousProgress<GenerationProgress>(reports.Add));

        Assert.Equal([1, 2, 3, 4, 5], reports.Select(r => r.Step));
        Assert.All(reports, r => Assert.Equal(5, r.TotalSteps));
    }

    [Fact]
    public void CancellingBetweenStepsStopsTheGeneration()
    {
        using var pipeline = TinySd.Load();
        using var cancellation = new CancellationTokenSource();
        int steps = 0;
        var progress = new SynchronousProgress<GenerationProgress>(_ =>
        {
            steps++;
            cancellation.Cancel();
        });

        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Generate(TinySd.SmallOptions() with { Steps = 10 }, progress, cancellation.Token));
        Assert.Equal(1, steps);
    }

    [Fact]
    public void CancellingDuringAUNetRunAbortsIt()
    {
        using var pipeline = TinySd.Load();
        using var cancellation = new CancellationTokenSource();
        int steps = 0;
        // 512×512 (64×64 latents, batch 2): the cancellation lands inside a UNet run, through RunOptions.Terminate.
        // It comes from a thread of its own, not CancelAfter's timer: with the test run's thread pool busy, the timer's
        // callback could come after the whole generation (about a second here) had finished.
        var progress = new SynchronousProgress<GenerationProgress>(_ =>
        {
            if (Interlocked.Increment(ref steps) == 1)
                new Thread(() =>
                {
                    Thread.Sleep(20);
                    try
                    {
                        cancellation.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // the test already ended (and its assertions failed): nothing left to cancel
                    }
                }) { IsBackground = true }.Start();
        });
        var watch = System.Diagnostics.Stopwatch.StartNew();

        Assert.ThrowsAny<OperationCanceledException>(() =>
            pipeline.Generate(TinySd.SmallOptions() with { Steps = 50, Width = 512, Height = 512 }, progress, cancellation.Token));
        Assert.True(steps < 50);
        // The pipeline is usable again afterwards.
        ImageAssert.SingleImage(pipeline.Generate(TinySd.SmallOptions()), 64, 64);
    }

    [Fact]
    public void ChangingTheImageSizeReusesTheSessions()
    {
        using var pipeline = TinySd.Load();
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        pipeline.Generate(TinySd.SmallOptions() with { Width = 64, Height = 64 });
        pipeline.Generate(TinySd.SmallOptions() with { Width = 96, Height = 128 });
        pipeline.Generate(TinySd.SmallOptions() with { Width = 64, Height = 64, ImagesPerPrompt = 2 });

        Assert.Equal(before, SessionFactory.SessionsCreatedOnCurrentThread);
    }

    [Fact]
    public void ReportsWhereTheTimeWent()
    {
        using var pipeline = TinySd.Load();
        GenerationTimings timings = pipeline.Generate(TinySd.SmallOptions()).Timings;

        Assert.True(timings.UNet > TimeSpan.Zero);
        Assert.True(timings.TextEncoder > TimeSpan.Zero);
        Assert.True(timings.VaeDecoder > TimeSpan.Zero);
        Assert.True(timings.Total >= timings.ModelRuns);
        Assert.Equal(timings.Total - timings.ModelRuns, timings.Overhead);
    }

    [Fact]
    public void ReportsATruncatedPrompt()
    {
        using var pipeline = TinySd.Load();
        string longPrompt = string.Join(' ', Enumerable.Repeat("cat", 100));

        GenerationResult result = pipeline.Generate(TinySd.SmallOptions() with { Prompt = longPrompt, Steps = 1 });

        Assert.True(result.PromptTruncated);
        Assert.False(result.NegativePromptTruncated);
    }

    [Theory]
    [InlineData(500, 512, "Width")]
    [InlineData(512, 0, "Height")]
    [InlineData(512, -8, "Height")]
    public void RejectsSizesThatAreNotPositiveMultiplesOfEight(int width, int height, string option)
    {
        using var pipeline = TinySd.Load();
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(TinySd.SmallOptions() with { Width = width, Height = height }));
        Assert.Equal(option, error.OptionName);
        Assert.Contains("multiple of 8", error.Message);
    }

    [Fact]
    public void MissingUNetIsAModelLoadErrorNamingTheFile()
    {
        string copy = CopyOfTinySd(without: "unet");
        try
        {
            var error = Assert.Throws<ModelLoadException>(() => StableDiffusionPipeline.Load(copy));
            Assert.Equal(Path.Combine(copy, "unet", "model.onnx"), error.Path);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    [Fact]
    public void UnreadableSchedulerConfigIsAModelLoadErrorNamingTheFile()
    {
        string copy = CopyOfTinySd(without: null);
        try
        {
            string config = Path.Combine(copy, "scheduler", "scheduler_config.json");
            File.WriteAllText(config, "{ \"_class_name\": \"PNDMScheduler\", ");
            var error = Assert.Throws<ModelLoadException>(() => StableDiffusionPipeline.Load(copy));
            Assert.Equal(config, error.Path);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    [Fact]
    public void CudaOnACpuOnlyRuntimeFailsBeforeAnyModelLoads()
    {
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        var settings = new PipelineSettings { Session = new SessionSettings { Provider = ExecutionProvider.Cuda(0) } };

        var error = Assert.Throws<ExecutionProviderUnavailableException>(() => StableDiffusionPipeline.Load(TinySd.Folder, settings));

        Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu", error.Message);
        Assert.Equal(before, SessionFactory.SessionsCreatedOnCurrentThread);
    }

    [Fact]
    public void ASchedulerCanBeSwappedInCode()
    {
        using var pipeline = TinySd.Load();
        GenerationOptions options = TinySd.SmallOptions() with { Scheduler = null };
        float[] pndm = pipeline.Generate(options).Latents;
        pipeline.Scheduler = SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config);
        float[] ddim = pipeline.Generate(options).Latents;

        Assert.IsType<DdimScheduler>(pipeline.Scheduler);
        Assert.NotEqual(pndm, ddim);
    }

    private static string CopyOfTinySd(string? without)
    {
        string source = TinySd.Folder;
        string target = Path.Combine(Path.GetTempPath(), "diffusion-core-tests", Guid.NewGuid().ToString("N"));
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(source, file);
            if (without is not null && relative.StartsWith(without + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                continue;
            string destination = Path.Combine(target, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
        return target;
    }

    private static float MaxAbsDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float[] difference = new float[a.Length];
        TensorPrimitives.Subtract(a, b, difference);
        return TensorPrimitives.MaxMagnitude(difference) is var m ? MathF.Abs(m) : 0;
    }

    private static float MeanAbs(float[] values) => TensorPrimitives.SumOfMagnitudes(values) / values.Length;

    private static float MeanAbsDifference(float[] a, float[] b)
    {
        float[] difference = new float[a.Length];
        TensorPrimitives.Subtract(a, b, difference);
        TensorPrimitives.Abs(difference, difference);
        return TensorPrimitives.Sum(difference) / difference.Length;
    }
}
