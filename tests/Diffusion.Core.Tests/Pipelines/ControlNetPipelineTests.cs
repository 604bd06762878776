using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Core.Tests.Models;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>
/// ControlNet in the text-to-image pipeline: tiny-sd's text encoder and VAE with the ControlNet fixture UNets
/// (TestData/controlnet, 64×64 images, 4 Euler steps, guidance 7.5).
/// </summary>
public sealed class ControlNetPipelineTests
{
    [Fact]
    public void ConditioningScaleZeroEqualsPlainGeneration()
    {
        using var plain = TinySd.WithUNet(ControlNetFixtures.Model("unet"));
        using var controlled = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet"));
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"), TinySd.Session);

        float[] expected = plain.Generate(TinySd.SmallOptions()).Latents;
        float[] actual = controlled.Generate(TinySd.SmallOptions() with { ControlNets = [Unit(controlNet, 0f)] }).Latents;

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void FusedUNetAtScaleZeroEqualsPlainGeneration()
    {
        using var plain = TinySd.WithUNet(ControlNetFixtures.Model("unet"));
        using var fused = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet-fused"));

        float[] expected = plain.Generate(TinySd.SmallOptions()).Latents;
        float[] actual = fused.Generate(TinySd.SmallOptions() with { ControlNets = [Fused(0, 0f)] }).Latents;

        TestContext.Current.TestOutputHelper?.WriteLine($"max |a − b| = {MaxAbsDifference(actual, expected)}");
        Assert.True(MaxAbsDifference(actual, expected) < 1e-5f, $"max diff {MaxAbsDifference(actual, expected)}");
    }

    [Fact]
    public void ControlNetChangesTheResult()
    {
        using var controlled = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet"));
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"), TinySd.Session);

        float[] off = controlled.Generate(TinySd.SmallOptions()).Latents;
        float[] on = controlled.Generate(TinySd.SmallOptions() with { ControlNets = [Unit(controlNet, 1f)] }).Latents;

        TestContext.Current.TestOutputHelper?.WriteLine($"max |on − off| = {MaxAbsDifference(on, off)}");
        Assert.True(MaxAbsDifference(on, off) > 0.05f, $"max diff {MaxAbsDifference(on, off)}");
    }

    [Theory]
    [InlineData(ClassifierFreeGuidanceMode.Batched)]
    [InlineData(ClassifierFreeGuidanceMode.Separate)]
    public void MatchesAHandWrittenDiffusersControlNetLoop(ClassifierFreeGuidanceMode mode)
    {
        // diffusers' StableDiffusionControlNetPipeline.__call__ written out with the parts: [uncond | cond] embeddings,
        // the control image as [0,1] RGB repeated for both halves, per step latent_model_input = scale(cat([latents] * 2)),
        // cond_scale = scale · controlnet_keep[i], down, mid = controlnet(latent_model_input, t, embeds, image, cond_scale),
        // unet(latent_model_input, t, embeds, down, mid) → uncond + g·(cond − uncond) → step.
        using var pipeline = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet"), new PipelineSettings { GuidanceMode = mode });
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"), TinySd.Session);
        ControlNetUnit unit = Unit(controlNet, 0.8f) with { GuidanceEnd = 0.5 };
        GenerationOptions options = TinySd.SmallOptions() with { ControlNets = [unit] };
        float[] actual = pipeline.Generate(options).Latents;

        IScheduler scheduler = SchedulerCatalog.Create("Euler", SchedulerConfig.StableDiffusion15);
        scheduler.SetTimesteps(options.Steps);
        const int perPrompt = 77 * 32, perLatent = 4 * 8 * 8, perImage = 3 * 64 * 64;
        float[] embeddings = new float[2 * perPrompt];
        pipeline.TextEncoder.Encode(pipeline.Tokenizer.Encode(options.NegativePrompt).Ids, 1, 77, embeddings.AsMemory(0, perPrompt));
        pipeline.TextEncoder.Encode(pipeline.Tokenizer.Encode(options.Prompt).Ids, 1, 77, embeddings.AsMemory(perPrompt, perPrompt));
        float[] image = new float[2 * perImage];
        ImageTensorConverter.ToUnitTensor(unit.Image!, image.AsSpan(0, perImage));
        image.AsSpan(0, perImage).CopyTo(image.AsSpan(perImage));
        float[] latents = new float[perLatent];
        new TorchCpuRandomSource(options.Seed!.Value).NextStandardNormal(latents);
        for (int i = 0; i < latents.Length; i++)
            latents[i] *= scheduler.InitNoiseSigma;
        float[] input = new float[2 * perLatent], noise = new float[2 * perLatent];
        ControlNetResiduals residuals = controlNet.CreateResiduals(2, 8, 8);
        int steps = scheduler.Timesteps.Length;
        for (int i = 0; i < steps; i++)
        {
            float t = scheduler.Timesteps[i];
            scheduler.ScaleModelInput(latents, i, input.AsSpan(0, perLatent));
            input.AsSpan(0, perLatent).CopyTo(input.AsSpan(perLatent));
            float keep = (double)i / steps < 0.0 || (double)(i + 1) / steps > 0.5 ? 0f : 1f;
            controlNet.Run(input, 2, 8, 8, t, embeddings, 77, image, 0.8f * keep, residuals);
            pipeline.UNet.PredictWithControlNet(input, 2, 8, 8, t, embeddings, 77, noise, residuals);
            for (int j = 0; j < perLatent; j++)
                noise[j] += (options.GuidanceScale ?? Diffusion.Core.Families.ModelFamily.StableDiffusion.DefaultGuidanceScale) * (noise[perLatent + j] - noise[j]);
            scheduler.Step(noise.AsSpan(0, perLatent), i, latents, new TorchCpuRandomSource(0));
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"max |pipeline − hand loop| = {MaxAbsDifference(actual, latents)}");
        Assert.True(MaxAbsDifference(actual, latents) < 1e-5f, $"max diff {MaxAbsDifference(actual, latents)}");
    }

    [Fact]
    public void TheControlImageSteersTheResult()
    {
        // Same ControlNet and scale, two different control images: the image (not only the residuals' biases) matters.
        using var controlled = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet-fused"));

        float[] a = controlled.Generate(TinySd.SmallOptions() with { ControlNets = [Fused(0, 1f) with { Image = Pattern(64, 64, 5) }] }).Latents;
        float[] b = controlled.Generate(TinySd.SmallOptions() with { ControlNets = [Fused(0, 1f) with { Image = Pattern(64, 64, 11) }] }).Latents;

        TestContext.Current.TestOutputHelper?.WriteLine($"max |a − b| = {MaxAbsDifference(a, b)}");
        Assert.True(MaxAbsDifference(a, b) > 1e-3f, $"max diff {MaxAbsDifference(a, b)}");
    }

    [Fact]
    public void SplitAndFusedFormsGiveTheSameLatents()
    {
        // The same weights twice: controlnet-a + controlnet-b as separate models (residuals summed here), and fused
        // into the UNet graph by diffusers' conversion recipe (summed inside).
        using var split = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet"));
        using var fused = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet-fused"));
        using var a = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"), TinySd.Session);
        using var b = ControlNet.Load(ControlNetFixtures.Model("controlnet-b"), TinySd.Session);
        ImageBuffer edges = Pattern(64, 64, 5), blocks = Pattern(64, 64, 11);

        float[] expected = split.Generate(TinySd.SmallOptions() with
        {
            ControlNets = [Unit(a, 0.75f) with { Image = edges }, Unit(b, 0.5f) with { Image = blocks }],
        }).Latents;
        float[] actual = fused.Generate(TinySd.SmallOptions() with
        {
            ControlNets = [Fused(0, 0.75f) with { Image = edges }, Fused(1, 0.5f) with { Image = blocks }],
        }).Latents;

        TestContext.Current.TestOutputHelper?.WriteLine($"max |a − b| = {MaxAbsDifference(actual, expected)}");
        Assert.True(MaxAbsDifference(actual, expected) < 1e-5f, $"max diff {MaxAbsDifference(actual, expected)}");
    }

    [Fact]
    public void GuidanceWindowThatExcludesEveryStepEqualsPlainGeneration()
    {
        // 4 steps, start 0.9: step i is on only when i/4 ≥ 0.9, which no step is (diffusers' controlnet_keep).
        using var controlled = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet"));
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"), TinySd.Session);

        float[] off = controlled.Generate(TinySd.SmallOptions()).Latents;
        float[] excluded = controlled.Generate(TinySd.SmallOptions() with
        {
            ControlNets = [Unit(controlNet, 1f) with { GuidanceStart = 0.9, GuidanceEnd = 1.0 }],
        }).Latents;

        Assert.Equal(off, excluded);
    }

    [Fact]
    public void GuidanceWindowOverHalfTheStepsLiesBetweenNoneAndAll()
    {
        using var controlled = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet"));
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"), TinySd.Session);

        float[] off = controlled.Generate(TinySd.SmallOptions()).Latents;
        float[] all = controlled.Generate(TinySd.SmallOptions() with { ControlNets = [Unit(controlNet, 1f)] }).Latents;
        float[] firstHalf = controlled.Generate(TinySd.SmallOptions() with
        {
            ControlNets = [Unit(controlNet, 1f) with { GuidanceEnd = 0.5 }],
        }).Latents;

        Assert.True(MaxAbsDifference(firstHalf, off) > 1e-3f);
        Assert.True(MaxAbsDifference(firstHalf, all) > 1e-3f);
    }

    [Theory]
    // diffusers: keep = not (i / n < start or (i + 1) / n > end)
    [InlineData(0, 4, 0.0, 0.5, true)]
    [InlineData(1, 4, 0.0, 0.5, true)]
    [InlineData(2, 4, 0.0, 0.5, false)] // (2 + 1) / 4 = 0.75 > 0.5
    [InlineData(0, 4, 0.25, 1.0, false)] // 0 / 4 < 0.25
    [InlineData(1, 4, 0.25, 1.0, true)]
    [InlineData(3, 10, 0.3, 1.0, true)] // 3 / 10 == 0.3 in doubles: not below the start
    [InlineData(9, 10, 0.0, 1.0, true)]
    public void UnitIsActiveByDiffusersKeepRule(int step, int total, double start, double end, bool active)
    {
        var unit = new ControlNetUnit { GuidanceStart = start, GuidanceEnd = end };

        Assert.Equal(active, unit.IsActiveAt(step, total));
    }

    [Fact]
    public void WrongControlImageSizeWithResizingOffNamesTheOption()
    {
        using var controlled = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet"));
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"), TinySd.Session);
        ControlNetUnit unit = Unit(controlNet, 1f) with { Image = new ImageBuffer(48, 64), Resize = ControlNetImageResize.None };

        var error = Assert.Throws<InvalidOptionException>(() => controlled.Generate(TinySd.SmallOptions() with { ControlNets = [unit] }));

        Assert.Equal("ControlNets[0].Image", error.OptionName);
        Assert.Contains("Resize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GuidanceWindowMustBeOrdered()
    {
        GenerationOptions options = TinySd.SmallOptions() with
        {
            ControlNets = [new ControlNetUnit { FusedIndex = 0, Image = new ImageBuffer(8, 8), GuidanceStart = 0.6, GuidanceEnd = 0.4 }],
        };

        var error = Assert.Throws<InvalidOptionException>(options.Validate);

        Assert.Equal("ControlNets[0].GuidanceStart", error.OptionName);
    }

    [Fact]
    public void CannyEdgesOfAPhotoSteerAGeneration()
    {
        // The sample's flow: edges of coffee.png (600×400), stretched to 64×64 as diffusers does, steer the fixture pair.
        ImageBuffer photo = Diffusion.Imaging.Skia.SkiaImageCodec.Load(SharedData.Require("images/coffee.png"));
        ImageBuffer edges = CannyEdgeDetector.Detect(photo, 100, 200);
        using var controlled = TinySd.WithUNet(ControlNetFixtures.Model("unet-controlnet"));
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"), TinySd.Session);

        GenerationResult result = controlled.Generate(TinySd.SmallOptions() with { ControlNets = [Unit(controlNet, 1f) with { Image = edges }] });

        ImageAssert.SingleImage(result, 64, 64);
        Assert.All(result.Latents, value => Assert.True(float.IsFinite(value)));
    }

    private static ControlNetUnit Unit(ControlNet model, float scale) =>
        new() { Model = model, Image = Pattern(64, 64, 7), ConditioningScale = scale };

    private static ControlNetUnit Fused(int index, float scale) =>
        new() { FusedIndex = index, Image = Pattern(64, 64, 7), ConditioningScale = scale };

    /// <summary>A deterministic black-and-white stripe pattern, a stand-in for an edge map.</summary>
    private static ImageBuffer Pattern(int width, int height, int period)
    {
        var image = new ImageBuffer(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                if ((x + 2 * y) % period == 0)
                    image.Pixels.AsSpan((y * width + x) * 3, 3).Fill(255);
        return image;
    }

    private static float MaxAbsDifference(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        float max = 0;
        for (int i = 0; i < actual.Length; i++)
            max = MathF.Max(max, MathF.Abs(actual[i] - expected[i]));
        return max;
    }
}
