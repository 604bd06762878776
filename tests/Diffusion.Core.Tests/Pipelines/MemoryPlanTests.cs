using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>
/// The memory plan: per-mode peaks from the models' sizes, Auto's choice against the memory available, and the choice
/// applied by the loaders (the same images as the mode chosen by hand).
/// </summary>
public sealed class MemoryPlanTests
{
    private const long GB = 1_000_000_000;

    // FLUX.1-dev at float32 as a CPU session holds it (parameter counts from Graphs/FluxTransformerGraphTests and
    // docs/flow-matching-models.md): CLIP-L, T5-XXL, the transformer, the VAE decoder (about half the VAE's 83.8 M).
    private static readonly (string, long?)[] s_fluxDev =
        [("text_encoder", 123_060_480L * 4), ("text_encoder_2", 4_762_310_656L * 4), ("transformer", 11_901_408_320L * 4), ("vae_decoder", 49_490_199L * 4)];

    [Fact]
    public void Keep_loaded_is_every_weight_plus_the_largest_working_set_and_sequential_the_largest_stage()
    {
        MemoryPlan plan = MemoryPlan.Create(s_fluxDev, MemoryMode.KeepLoaded, null, Unreadable);
        long weights = (123_060_480L + 4_762_310_656L + 11_901_408_320L + 49_490_199L) * 4;
        Assert.Equal(weights + 11_901_408_320L * 2, plan.KeepLoadedPeakBytes); // working: half the transformer's 47.6 GB
        Assert.Equal(11_901_408_320L * 6, plan.SequentialPeakBytes);
        Assert.Equal(MemoryMode.KeepLoaded, plan.Chosen);
        Assert.Null(plan.AvailableBytes); // a mode given by hand reads nothing
    }

    [Theory]
    [InlineData(110 * GB, MemoryMode.KeepLoaded)]   // 67.3 GB of weights + 23.8 working = 91.1 GB ≤ 85 % of 110
    [InlineData(100 * GB, MemoryMode.Sequential)]   // 91.1 > 85
    [InlineData(24 * GB, MemoryMode.Sequential)]
    public void Auto_keeps_everything_loaded_only_with_headroom(long budget, MemoryMode expected)
    {
        MemoryPlan plan = MemoryPlan.Create(s_fluxDev, MemoryMode.Auto, budget, Unreadable);
        Assert.Equal(expected, plan.Chosen);
        Assert.Equal(budget, plan.AvailableBytes);
        Assert.StartsWith($"Auto chose {expected}: ", plan.Explanation, StringComparison.Ordinal);
        Assert.Contains("PipelineSettings.MemoryBudget", plan.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_says_when_even_one_stage_at_a_time_exceeds_the_memory()
    {
        MemoryPlan plan = MemoryPlan.Create(s_fluxDev, MemoryMode.Auto, 24 * GB, Unreadable);
        Assert.Contains("the largest, transformer, needs ~66.5 GiB — more than is available", plan.Explanation, StringComparison.Ordinal);
        MemoryPlan fits = MemoryPlan.Create(s_fluxDev, MemoryMode.Auto, 80 * GB, Unreadable);
        Assert.Equal(MemoryMode.Sequential, fits.Chosen);
        Assert.DoesNotContain("more than is available", fits.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_reads_the_memory_available_when_no_budget_is_given_and_counts_unknown_sizes_as_zero()
    {
        MemoryPlan plan = MemoryPlan.Create([("unet", null), ("vae_decoder", 1000)], MemoryMode.Auto, null, () => new AvailableMemory(10_000, "test"));
        Assert.Equal(10_000, plan.AvailableBytes);
        Assert.Equal("test", plan.AvailableSource);
        Assert.Equal(MemoryMode.KeepLoaded, plan.Chosen);
        Assert.Contains("some sizes unknown", plan.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tiny_budget_makes_the_loader_choose_sequential_with_the_same_image()
    {
        using var keep = TinySd.Load();
        using var auto = TinySd.Load(new PipelineSettings { Session = TinySd.Session, MemoryMode = MemoryMode.Auto, MemoryBudget = 1024 });

        Assert.Equal(MemoryMode.Sequential, auto.MemoryPlan!.Chosen);
        Assert.Equal(["text_encoder", "unet", "vae_decoder"], auto.MemoryPlan.Stages.Select(s => s.Name));
        Assert.All(auto.MemoryPlan.Stages, s => Assert.True(s.WeightBytes > 0, s.Name));
        Assert.False(auto.UNet.IsLoaded); // released after load, as Sequential does
        GenerationResult expected = keep.Generate(TinySd.SmallOptions());
        GenerationResult actual = auto.Generate(TinySd.SmallOptions());
        Assert.Equal(expected.Latents, actual.Latents);
        Assert.False(auto.UNet.IsLoaded);
    }

    [Fact]
    public void Enough_memory_keeps_a_flow_pipeline_loaded_and_the_plan_lists_its_components()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(FlowMatching.TinyFlowModels.FluxDev,
            new PipelineSettings { MemoryMode = MemoryMode.Auto, MemoryBudget = 1L << 40 });
        Assert.Equal(MemoryMode.KeepLoaded, pipeline.MemoryPlan!.Chosen);
        Assert.Equal(["text_encoder", "text_encoder_2", "transformer", "vae_decoder"], pipeline.MemoryPlan.Stages.Select(s => s.Name));
        Assert.True(pipeline.Transformer.IsLoaded);
    }

    [Fact]
    public void A_budget_that_is_not_positive_is_refused_by_name()
    {
        var error = Assert.Throws<InvalidOptionException>(() => TinySd.Load(new PipelineSettings { Session = TinySd.Session, MemoryMode = MemoryMode.Auto, MemoryBudget = 0 }));
        Assert.Equal(nameof(PipelineSettings.MemoryBudget), error.OptionName);
    }

    [Theory]
    [InlineData(110 * GB, false)] // KeepLoaded: 93.5 GB usable less 67.3 GB of weights held leaves 26 GB for a 1 GiB decode
    [InlineData(80 * GB, false)]  // Sequential: only the VAE decoder's weights held at decode time
    [InlineData(12 * GB / 10, true)] // Sequential: 1.02 GB less 0.2 GB of VAE weights < 1 GiB
    public void Auto_tiles_a_decode_that_would_not_fit_in_the_budget(long budget, bool tiles)
    {
        MemoryPlan plan = MemoryPlan.Create(s_fluxDev, MemoryMode.Auto, budget, Unreadable);
        Assert.Equal(tiles, plan.TilesVaeDecode(1, 1024, 1024, Unreadable, out string reason));
        Assert.Equal(tiles, reason.StartsWith("decoding 1 × 1024×1024 in tiles: a whole decode needs ~1.0 GiB", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_a_budget_the_decode_is_weighed_against_the_memory_available_at_that_moment_and_other_modes_never_tile()
    {
        MemoryPlan plan = MemoryPlan.Create(s_fluxDev, MemoryMode.Auto, null, () => new AvailableMemory(200 * GB, "load"));
        Assert.True(plan.TilesVaeDecode(2, 1024, 1024, () => new AvailableMemory(2L << 30, "now"), out string reason)); // 2 GiB needed > 1.7
        Assert.Contains("available now (now)", reason, StringComparison.Ordinal);
        Assert.False(plan.TilesVaeDecode(1, 1024, 1024, () => new AvailableMemory(2L << 30, "now"), out _));
        Assert.False(MemoryPlan.Create(s_fluxDev, MemoryMode.Sequential, 1, Unreadable).TilesVaeDecode(8, 4096, 4096, Unreadable, out _));
    }

    [Fact]
    public void A_tiny_budget_decodes_in_tiles_close_to_the_whole_decode_and_one_tile_is_the_whole_decode()
    {
        using var sequential = TinySd.Load(new PipelineSettings { Session = TinySd.Session, MemoryMode = MemoryMode.Sequential });
        using var auto = TinySd.Load(new PipelineSettings { Session = TinySd.Session, MemoryMode = MemoryMode.Auto, MemoryBudget = 1 << 20 });

        GenerationResult small = auto.Generate(TinySd.SmallOptions());
        Assert.True(small.VaeDecodeTiled);
        Assert.Equal(sequential.Generate(TinySd.SmallOptions()).Images[0].Pixels, small.Images[0].Pixels); // 64² fits one tile

        GenerationOptions large = TinySd.SmallOptions() with { Width = 576, Height = 576, Steps = 1 }; // 72 latents: 2×2 tiles of 64
        GenerationResult whole = sequential.Generate(large), tiled = auto.Generate(large);
        Assert.False(whole.VaeDecodeTiled);
        Assert.True(tiled.VaeDecodeTiled);
        Assert.Equal(whole.Latents, tiled.Latents);
        Assert.NotEqual(whole.Images[0].Pixels, tiled.Images[0].Pixels);
        Assert.True(PipelineImages.Psnr(whole.Images[0], tiled.Images[0]) > 30, "tiles should stay close to the whole decode");
    }

    private static AvailableMemory Unreadable() => throw new InvalidOperationException("the plan must not read the machine here");
}
