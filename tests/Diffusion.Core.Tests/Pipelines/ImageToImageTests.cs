using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Pipelines;

public sealed class ImageToImageTests(ITestOutputHelper output)
{
    private static GenerationOptions Options(ImageBuffer image, double strength, string scheduler = "Euler", SchedulerConfig? config = null) =>
        TinySd.SmallOptions(scheduler, config) with { InitImage = image, Strength = strength, Width = null, Height = null };

    [Fact]
    public void StrengthZeroReturnsTheVaeRoundTripOfTheImage()
    {
        using var pipeline = TinySd.Load();
        ImageBuffer photo = PipelineImages.Astronaut(64);
        var reports = new List<GenerationProgress>();

        GenerationResult result = pipeline.Generate(Options(photo, 0), new SynchronousProgress<GenerationProgress>(reports.Add));

        ImageBuffer roundTrip = PipelineImages.RoundTrip(TinySd.Folder, photo);
        Assert.Equal(roundTrip.Pixels, result.Images[0].Pixels);
        Assert.Equal(0, result.DenoisingSteps);
        Assert.Empty(reports);
        // Measured: TAESD's round trip of the 64×64 astronaut is 15.93 dB (25.35 dB at 512×512, shared/images/README.md):
        // at 64 px most detail is below the VAE's 8-pixel latent grid.
        double psnr = PipelineImages.Psnr(result.Images[0], photo);
        output.WriteLine($"round trip PSNR vs the photo: {psnr:F2} dB");
        Assert.InRange(psnr, 14, 40);
    }

    [Theory]
    // diffusers' get_timesteps: init_timestep = min(int(steps·strength), steps); t_start = steps − init_timestep.
    [InlineData(10, 0.7, 7)] // Python: 10 * 0.7 = 7.000000000000001 → 7 (float32 arithmetic would give 6)
    [InlineData(10, 0.3, 3)]
    [InlineData(25, 0.8, 20)]
    [InlineData(50, 0.75, 37)]
    [InlineData(4, 0.2, 0)]
    [InlineData(4, 1.0, 4)]
    [InlineData(4, 0.0, 0)]
    public void StrengthSetsTheStepsAsDiffusersGetTimesteps(int steps, double strength, int expected)
    {
        IScheduler scheduler = SchedulerCatalog.Create("Euler", SchedulerConfig.StableDiffusion15);
        scheduler.SetTimesteps(steps);

        int start = ScheduleWindow.StartIndex(steps, strength, scheduler);

        Assert.Equal(expected, scheduler.Timesteps.Length - start);
    }

    [Fact]
    public void SecondOrderSchedulersStartAtTStartTimesOrder()
    {
        // Heun (order 2) with 4 steps has 7 timesteps; strength 0.5 → t_start 2 → index 4, as diffusers' timesteps[t_start * order:].
        IScheduler scheduler = SchedulerCatalog.Create("Heun", SchedulerConfig.StableDiffusion15);
        scheduler.SetTimesteps(4);

        Assert.Equal(7, scheduler.Timesteps.Length);
        Assert.Equal(4, ScheduleWindow.StartIndex(4, 0.5, scheduler));
    }

    [Fact]
    public void IntermediateStrengthRunsTheDocumentedNumberOfSteps()
    {
        using var pipeline = TinySd.Load();
        var reports = new List<GenerationProgress>();

        GenerationResult result = pipeline.Generate(Options(PipelineImages.Astronaut(64), 0.5) with { Steps = 4 },
            new SynchronousProgress<GenerationProgress>(reports.Add));

        Assert.Equal(2, result.DenoisingSteps);
        Assert.Equal([1, 2], reports.Select(r => r.Step));
        Assert.All(reports, r => Assert.Equal(2, r.TotalSteps));
        ImageAssert.SingleImage(result, 64, 64);
    }

    [Fact]
    public void MatchesAHandWrittenDiffusersImg2ImgLoop()
    {
        // StableDiffusionImg2ImgPipeline: latents = scaling_factor · vae.encode(image); noise = randn(shape, generator);
        // latents = scheduler.add_noise(latents, noise, timesteps[t_start]); then the text-to-image loop from t_start.
        using var pipeline = TinySd.Load(new PipelineSettings { Session = TinySd.Session, GuidanceMode = ClassifierFreeGuidanceMode.Separate });
        ImageBuffer photo = PipelineImages.Astronaut(64);
        GenerationOptions options = Options(photo, 0.75, "DDIM") with { Steps = 4 };
        float[] actual = pipeline.Generate(options).Latents;

        IScheduler scheduler = SchedulerCatalog.Create("DDIM", SchedulerConfig.StableDiffusion15);
        scheduler.SetTimesteps(4);
        int width = pipeline.TextEncoder.GetHiddenSize();
        float[] uncond = new float[77 * width], cond = new float[77 * width];
        pipeline.TextEncoder.Encode(pipeline.Tokenizer.Encode(options.NegativePrompt).Ids, 1, 77, uncond);
        pipeline.TextEncoder.Encode(pipeline.Tokenizer.Encode(options.Prompt).Ids, 1, 77, cond);
        using var encoder = VaeEncoder.Load(Path.Combine(TinySd.Folder, "vae_encoder", "model.onnx"), TinySd.Session);
        float[] pixels = new float[3 * 64 * 64];
        ImageTensorConverter.ToTensor(photo, pixels);
        float[] latents = new float[4 * 8 * 8];
        encoder.Encode(pixels, 1, 64, 64, latents);
        for (int i = 0; i < latents.Length; i++)
            latents[i] *= 0.18215f;
        float[] noise = new float[latents.Length];
        new TorchCpuRandomSource(options.Seed!.Value).NextStandardNormal(noise);
        int start = 1; // t_start = 4 − int(4 · 0.75) = 1
        scheduler.AddNoise(latents, noise, start, latents);
        float[] input = new float[latents.Length], noiseUncond = new float[latents.Length], noiseCond = new float[latents.Length];
        for (int i = start; i < scheduler.Timesteps.Length; i++)
        {
            scheduler.ScaleModelInput(latents, i, input);
            pipeline.UNet.Predict(input, 1, 8, 8, scheduler.Timesteps[i], uncond, 77, noiseUncond);
            pipeline.UNet.Predict(input, 1, 8, 8, scheduler.Timesteps[i], cond, 77, noiseCond);
            for (int j = 0; j < latents.Length; j++)
                noiseCond[j] = noiseUncond[j] + (options.GuidanceScale ?? Diffusion.Core.Families.ModelFamily.StableDiffusion.DefaultGuidanceScale) * (noiseCond[j] - noiseUncond[j]);
            scheduler.Step(noiseCond, i, latents);
        }

        Assert.Equal(latents, actual, (x, y) => MathF.Abs(x - y) < 1e-5f);
    }

    [Fact]
    public void StrengthOneEqualsTextToImageWhenTheFirstTimestepIsPureNoise()
    {
        // With zero-terminal-SNR betas and trailing spacing the first timestep is 999 and alphas_cumprod[999] = 0, so
        // DDIM's add_noise(image, noise, 999) = noise = text-to-image's start (init sigma 1). tiny-sd's VAE encoder
        // outputs latents (no sampling draw), so both runs take the same first random draw. Zero terminal SNR needs
        // v-prediction: with epsilon, x0 = (x − √(1−ᾱ)·ε)/√ᾱ divides by 0 at t = 999 (the pipeline then throws
        // NumericalInstabilityException naming the scheduler).
        SchedulerConfig zeroSnr = SchedulerConfig.StableDiffusion15 with
        {
            RescaleBetasZeroSnr = true, TimestepSpacing = "trailing", PredictionType = "v_prediction",
        };
        using var pipeline = TinySd.Load();

        float[] text = pipeline.Generate(TinySd.SmallOptions("DDIM", zeroSnr)).Latents;
        float[] image = pipeline.Generate(Options(PipelineImages.Astronaut(64), 1.0, "DDIM", zeroSnr)).Latents;

        Assert.Equal(text, image);
    }

    [Theory]
    [InlineData("DDIM")]
    [InlineData("Euler")]
    public void StrengthOneKeepsSomeOfTheImageWithStableDiffusionsLeadingSchedule(string scheduler)
    {
        // SD 1.5's leading schedule starts at t = 751 for 4 steps (981 for 50): alphas_cumprod[t] > 0, so
        // StableDiffusionImg2ImgPipeline's add_noise keeps a trace of the image; it is not text-to-image.
        using var pipeline = TinySd.Load();
        float[] text = pipeline.Generate(TinySd.SmallOptions(scheduler)).Latents;
        float[] image = pipeline.Generate(Options(PipelineImages.Astronaut(64), 1.0, scheduler)).Latents;

        Assert.NotEqual(text, image);
    }

    [Fact]
    public void WithoutASizeTheImageSizeIsRoundedDownToAMultipleOfEight()
    {
        using var pipeline = TinySd.Load();
        ImageBuffer odd = ImageOperations.Resize(PipelineImages.Astronaut(64), 70, 67);

        GenerationResult result = pipeline.Generate(Options(odd, 0.5));

        ImageAssert.SingleImage(result, 64, 64);
    }

    [Fact]
    public void AGivenSizeResizesTheImage()
    {
        using var pipeline = TinySd.Load();

        GenerationResult result = pipeline.Generate(Options(PipelineImages.Astronaut(64), 0.5) with { Width = 32, Height = 64 });

        ImageAssert.SingleImage(result, 32, 64);
    }

    [Fact]
    public void ImagesPerPromptRepeatsTheImageLatentsAndDrawsOneNoiseTensor()
    {
        using var pipeline = TinySd.Load();
        GenerationResult result = pipeline.Generate(Options(PipelineImages.Astronaut(64), 0.5) with { ImagesPerPrompt = 2 });

        Assert.Equal(2, result.Images.Count);
        Assert.NotEqual(result.Images[0].Pixels, result.Images[1].Pixels);
    }

    [Fact]
    public void AnImageSmallerThanEightPixelsIsRejected()
    {
        using var pipeline = TinySd.Load();
        var exception = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Options(new ImageBuffer(7, 64), 0.5)));
        Assert.Equal("InitImage", exception.OptionName);
    }

    [Theory]
    [InlineData(1.5)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void StrengthOutsideZeroToOneIsRejected(double strength)
    {
        var options = Options(new ImageBuffer(64, 64), strength);
        var exception = Assert.Throws<InvalidOptionException>(options.Validate);
        Assert.Equal("Strength", exception.OptionName);
    }

    [Fact]
    public void StrengthWithoutAnImageIsRejected()
    {
        var exception = Assert.Throws<InvalidOptionException>((TinySd.SmallOptions() with { Strength = 0.5 }).Validate);
        Assert.Equal("Strength", exception.OptionName);
    }

    [Fact]
    public void APipelineWithoutAVaeEncoderRejectsAnImage()
    {
        string folder = TinySd.Folder;
        using var pipeline = new StableDiffusionPipeline(
            ClipTokenizer.FromDirectory(Path.Combine(folder, "tokenizer")),
            TextEncoder.Load(Path.Combine(folder, "text_encoder", "model.onnx"), TinySd.Session),
            UNet.Load(Path.Combine(folder, "unet", "model.onnx"), TinySd.Session),
            VaeDecoder.Load(Path.Combine(folder, "vae_decoder", "model.onnx"), TinySd.Session),
            SchedulerCatalog.Create("Euler", SchedulerConfig.StableDiffusion15));

        var exception = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Options(PipelineImages.Astronaut(64), 0.5)));
        Assert.Equal("InitImage", exception.OptionName);
    }

    [Theory]
    [InlineData("PNDMScheduler")]
    [InlineData("LMSDiscreteScheduler")]
    public void MultistepSchedulersStartMidSchedule(string scheduler)
    {
        // PNDM (SD 1.5's own config) and LMS count their history from the first step they are given, as diffusers
        // does, so image-to-image can start them part-way (their part-way starts are checked against diffusers in
        // Schedulers/Img2ImgReferenceTests).
        using var pipeline = TinySd.Load();
        var reports = new List<GenerationProgress>();
        GenerationResult result = pipeline.Generate(Options(PipelineImages.Astronaut(64), 0.5, scheduler), new SynchronousProgress<GenerationProgress>(reports.Add));

        ImageAssert.SingleImage(result, 64, 64);
        Assert.NotEmpty(reports);
        Assert.All(result.Latents, value => Assert.True(float.IsFinite(value)));
    }

    [Fact]
    public void TheVaeEncoderIsLoadedOnlyWhenAnImageNeedsIt()
    {
        using var pipeline = TinySd.Load();
        pipeline.Generate(TinySd.SmallOptions() with { Steps = 1 });
        Assert.Null(pipeline.VaeEncoder);

        pipeline.Generate(Options(PipelineImages.Astronaut(64), 0));
        Assert.NotNull(pipeline.VaeEncoder);
    }
}
