using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// SD3's skip-layer guidance beyond the reference run (FlowMatchingPipelineReferenceTests, case sd3-slg): it changes the
/// result only through its window, separate guidance passes give the same, and what cannot run it is refused by name.
/// </summary>
public sealed class SkipLayerGuidanceTests
{
    private static GenerationOptions Slg => TinyFlowModels.Options("sd3-slg");

    [Fact]
    public void It_changes_the_result_and_a_window_with_no_step_in_it_does_not()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Sd3);
        float[] plain = pipeline.Generate(Slg with { SkipLayerGuidance = null }).Latents;
        Assert.True(plain.Zip(TinyFlowModels.Latents("sd3-slg")).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f);
        // 6 steps: steps·0.9 < i < steps·0.95 holds for no integer i
        float[] empty = pipeline.Generate(Slg with { SkipLayerGuidance = new SkipLayerGuidance([0], 2.8f, 0.9, 0.95) }).Latents;
        Assert.Equal(plain, empty);
    }

    [Fact]
    public void Separate_guidance_passes_give_the_batched_result()
    {
        using FlowMatchingPipeline separate = FlowMatchingPipeline.Load(TinyFlowModels.Sd3, new PipelineSettings { GuidanceMode = ClassifierFreeGuidanceMode.Separate });
        TinyFlowModels.AssertClose(TinyFlowModels.Latents("sd3-slg"), separate.Generate(Slg).Latents, 1e-4f, "latents");
    }

    [Fact]
    public void What_cannot_run_it_is_refused_by_name()
    {
        const string Option = nameof(GenerationOptions.SkipLayerGuidance);
        using FlowMatchingPipeline sd3 = FlowMatchingPipeline.Load(TinyFlowModels.Sd3);
        Assert.Equal(Option, Assert.Throws<InvalidOptionException>(() => sd3.Generate(Slg with { GuidanceScale = 1f })).OptionName);
        var outside = Assert.Throws<InvalidOptionException>(() => sd3.Generate(Slg with { SkipLayerGuidance = new SkipLayerGuidance([2]) }));
        Assert.Contains("2 joint blocks", outside.Message, StringComparison.Ordinal);

        using FlowMatchingPipeline export = FlowMatchingPipeline.Load(TinyFlowModels.Path("tiny-sd3-onnx"));
        Assert.Equal(0, export.Transformer.SkippableLayers);
        var exported = Assert.Throws<InvalidOptionException>(() => export.Generate(TinyFlowModels.Options("sd3") with { SkipLayerGuidance = SkipLayerGuidance.Sd35Medium }));
        Assert.Contains("model.onnx", exported.Message, StringComparison.Ordinal);

        using FlowMatchingPipeline flux = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev);
        Assert.Equal(Option, Assert.Throws<InvalidOptionException>(() => flux.Generate(TinyFlowModels.Options("flux-dev") with { SkipLayerGuidance = new SkipLayerGuidance([0]) })).OptionName);
        using StableDiffusionPipeline unet = TinySd.Load();
        Assert.Equal(Option, Assert.Throws<InvalidOptionException>(() => unet.Generate(TinySd.SmallOptions() with { SkipLayerGuidance = new SkipLayerGuidance([0]) })).OptionName);
    }

    [Theory]
    [InlineData(new int[0], 2.8f, 0.01, 0.2)]
    [InlineData(new[] { -1 }, 2.8f, 0.01, 0.2)]
    [InlineData(new[] { 0 }, float.NaN, 0.01, 0.2)]
    [InlineData(new[] { 0 }, 2.8f, 0.3, 0.2)]
    [InlineData(new[] { 0 }, 2.8f, 0.0, 1.5)]
    public void Bad_settings_are_refused_before_anything_runs(int[] layers, float scale, double start, double stop)
    {
        var options = new GenerationOptions { Prompt = "x", SkipLayerGuidance = new SkipLayerGuidance(layers, scale, start, stop) };
        Assert.Equal(nameof(GenerationOptions.SkipLayerGuidance), Assert.Throws<InvalidOptionException>(options.Validate).OptionName);
    }
}
