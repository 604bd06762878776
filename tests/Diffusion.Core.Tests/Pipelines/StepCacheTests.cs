using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Graphs;
using Diffusion.Core.Tests.Models;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>
/// Step caching (<see cref="GenerationOptions.StepCache"/>, DeepCache) through the pipeline on the built-in demo model and
/// on a UNet built from safetensors: off and every-step-full are today's result bit for bit, cached steps stay close to
/// the uncached image, and what cannot be cut is refused by option.
/// </summary>
public sealed class StepCacheTests(ITestOutputHelper output)
{
    private static string DemoFolder => Path.Combine(Diffusion.Testing.SharedData.RepositoryRoot()!.FullName, "models", "demo-shapes");

    private static PipelineSettings Settings(ClassifierFreeGuidanceMode mode = ClassifierFreeGuidanceMode.Auto)
        => new() { Session = new SessionSettings { IntraOpThreads = 1 }, GuidanceMode = mode };

    private static GenerationOptions Demo(DeepCache? cache, int steps = 20) => new()
    {
        Prompt = "a large red circle on a blue background, top left",
        Steps = steps,
        GuidanceScale = 6f,
        Seed = 42,
        StepCache = cache,
    };

    [Fact]
    public void Every_step_full_is_the_uncached_result_bit_for_bit_and_the_pipeline_returns_to_its_unet_after()
    {
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(DemoFolder, Settings());
        GenerationResult uncached = pipeline.Generate(Demo(null));
        GenerationResult everyStep = pipeline.Generate(Demo(new DeepCache(Interval: 1)));
        Assert.Equal(uncached.Latents, everyStep.Latents);
        Assert.Equal(uncached.Images[0].Pixels, everyStep.Images[0].Pixels);
        Assert.Equal(0, everyStep.CachedSteps);
        GenerationResult cached = pipeline.Generate(Demo(new DeepCache(Interval: 3)));
        Assert.NotEqual(uncached.Latents, cached.Latents);
        Assert.False(pipeline.UNet.IsLoaded); // the pair holds the UNet's weights meanwhile
        // A call without caching after cached ones runs the pipeline's own UNet again: today's result.
        GenerationResult again = pipeline.Generate(Demo(null));
        Assert.Equal(uncached.Latents, again.Latents);
        Assert.Equal(0, again.CachedSteps);
        Assert.True(pipeline.UNet.IsLoaded);
        // And caching again reuses the pair, releasing the UNet again.
        Assert.Equal(cached.Latents, pipeline.Generate(Demo(new DeepCache(Interval: 3))).Latents);
        Assert.False(pipeline.UNet.IsLoaded);
    }

    [Theory]
    [InlineData(2, 0, 10)]
    [InlineData(3, 0, 13)]
    [InlineData(3, 1, 13)]
    [InlineData(5, 0, 16)]
    public void Cached_steps_stay_close_to_the_uncached_image(int interval, int point, int cachedSteps)
    {
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(DemoFolder, Settings());
        GenerationResult uncached = pipeline.Generate(Demo(null));
        GenerationResult cached = pipeline.Generate(Demo(new DeepCache(interval, point)));
        Assert.Equal(20, cached.DenoisingSteps);
        Assert.Equal(cachedSteps, cached.CachedSteps);
        double psnr = PipelineImages.Psnr(cached.Images[0], uncached.Images[0]);
        output.WriteLine($"interval {interval}, point {point}: PSNR {psnr:F2} dB against no caching");
        Assert.InRange(psnr, 25.0, 80.0); // close, but not the uncached image (the cached steps did run)
    }

    [Fact]
    public void An_int8_compute_unet_is_cut_with_its_settings()
    {
        // Both graphs of the pair load with the UNet's session settings: every step full is the int8 UNet's own result.
        var int8 = new SessionSettings { IntraOpThreads = 1, Quantization = WeightQuantization.Int8, QuantizeConvolutions = true, QuantizeActivations = true };
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(DemoFolder, Settings() with { UNetSession = int8 });
        using StableDiffusionPipeline exact = StableDiffusionPipeline.Load(DemoFolder, Settings());
        GenerationResult uncached = pipeline.Generate(Demo(null));
        Assert.NotEqual(exact.Generate(Demo(null)).Latents, uncached.Latents);
        Assert.Equal(uncached.Latents, pipeline.Generate(Demo(new DeepCache(Interval: 1))).Latents);
        GenerationResult cached = pipeline.Generate(Demo(new DeepCache(Interval: 3)));
        Assert.Equal(13, cached.CachedSteps);
        double psnr = PipelineImages.Psnr(cached.Images[0], uncached.Images[0]);
        output.WriteLine($"int8 compute, interval 3: PSNR {psnr:F2} dB against the int8 UNet uncached");
        Assert.InRange(psnr, 25.0, 80.0);
    }

    [Fact]
    public void Guidance_halves_run_separately_keep_a_feature_each()
    {
        using StableDiffusionPipeline batched = StableDiffusionPipeline.Load(DemoFolder, Settings(ClassifierFreeGuidanceMode.Batched));
        using StableDiffusionPipeline separate = StableDiffusionPipeline.Load(DemoFolder, Settings(ClassifierFreeGuidanceMode.Separate));
        GenerationResult a = batched.Generate(Demo(new DeepCache(3)));
        GenerationResult b = separate.Generate(Demo(new DeepCache(3)));
        Assert.Equal(13, b.CachedSteps);
        // Were the halves to share one feature, the unconditional rows would reuse the conditional ones' and differ by far more.
        Assert.InRange(ReferenceTensors.MaxAbsDifference(a.Latents, b.Latents), 0f, 1e-4f);
    }

    [Fact]
    public void A_unet_built_from_safetensors_caches_and_its_torch_export_is_refused()
    {
        var options = new GenerationOptions { Prompt = "a photo of a cat", NegativePrompt = "blurry", Steps = 6, Seed = 7, StepCache = new DeepCache(2) };
        using StableDiffusionPipeline built = StableDiffusionPipeline.Load(GraphFixtures.Fixture("xl-safetensors"), Settings());
        GenerationResult uncached = built.Generate(options with { StepCache = null });
        GenerationResult cached = built.Generate(options);
        Assert.Equal(3, cached.CachedSteps);
        Assert.NotEqual(uncached.Latents, cached.Latents);
        Assert.Equal(uncached.Latents, built.Generate(options with { StepCache = new DeepCache(1) }).Latents);

        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture("xl-onnx"), Settings());
        var error = Assert.Throws<InvalidOptionException>(() => exported.Generate(options));
        Assert.StartsWith("StepCache: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("declares no step-cache points", error.Message, StringComparison.Ordinal);
        // The refusal leaves the pipeline as it was: its UNet still loaded.
        Assert.True(exported.UNet.IsLoaded);
        Assert.Equal(0, exported.Generate(options with { StepCache = null }).CachedSteps);
    }

    [Fact]
    public void A_lora_merged_into_the_unet_is_in_both_graphs_of_the_pair()
    {
        var options = new GenerationOptions { Prompt = "a photo of a cat", Steps = 4, Seed = 3 };
        var lora = new LoraFile(GraphFixtures.Fixture("sd1-adapters", "lora.safetensors"), 1f);
        using StableDiffusionPipeline plain = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-safetensors"), Settings());
        using StableDiffusionPipeline withLora = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-safetensors"), Settings() with { Loras = [lora] });
        GenerationResult loraUncached = withLora.Generate(options);
        Assert.NotEqual(plain.Generate(options).Latents, loraUncached.Latents);
        Assert.Equal(loraUncached.Latents, withLora.Generate(options with { StepCache = new DeepCache(1) }).Latents);
        // The cached graph is cut from the LoRA-merged UNet: fed the full step's feature it gives that UNet's prediction.
        // Point 1's cached graph runs down_blocks.0.attentions.0 (the skip of the last up block's second layer), which the LoRA changes.
        using DeepCacheUNets pair = DeepCacheUNets.Load(withLora.UNet, 1);
        var call = new DeepCacheGraphsTests.UNetCall(withLora.UNet, seed: 9);
        float[] whole = call.Run(withLora.UNet);
        var feature = new Diffusion.Core.Models.DeepCacheFeature();
        pair.Full.CacheFeature = feature;
        pair.Cached.CacheFeature = feature;
        Assert.Equal(whole, call.Run(pair.Full));
        Assert.InRange(ReferenceTensors.MaxAbsDifference(call.Run(pair.Cached), whole), 0f, 1e-6f);
        using DeepCacheUNets plainPair = DeepCacheUNets.Load(plain.UNet, 1);
        plainPair.Cached.CacheFeature = feature;
        Assert.True(ReferenceTensors.MaxAbsDifference(call.Run(plainPair.Cached), whole) > 1e-4f, "the LoRA changes the layers the cached graph runs");
    }

    [Theory]
    [InlineData(0, 0, "StepCache: Interval must be 1 or more")]
    [InlineData(3, -1, "StepCache: CachePoint must be 0 or more")]
    [InlineData(3, 2, "StepCache: ")]
    public void Bad_settings_are_refused_by_option(int interval, int point, string expected)
    {
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(DemoFolder, Settings());
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Demo(new DeepCache(interval, point), steps: 2)));
        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ControlNets_are_refused_with_caching()
    {
        using StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(DemoFolder, Settings());
        var unit = new ControlNetUnit { FusedIndex = 0, Image = new Diffusion.Core.Imaging.ImageBuffer(64, 64, new byte[64 * 64 * 3]) };
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Demo(new DeepCache(3)) with { ControlNets = [unit] }));
        Assert.Equal("StepCache: does not run with ControlNets: their residuals feed the layers a cached step skips.", error.Message);
    }
}
