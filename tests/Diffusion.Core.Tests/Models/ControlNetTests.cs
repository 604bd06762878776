using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Models;

public sealed class ControlNetTests
{
    private const int Sequence = 77;

    [Fact]
    public void SplitControlNetExposesTwelveDownResidualsAndTheMidResidual()
    {
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"));

        Assert.Equal(12, controlNet.DownBlockResidualOutputs.Count);
        Assert.Equal("down_block_res_sample_11", controlNet.DownBlockResidualOutputs[11].Name);
        Assert.Equal("mid_block_res_sample", controlNet.MidBlockResidualOutput.Name);
        Assert.Equal("controlnet_cond", controlNet.ControlImageInput.Name);
        Assert.Equal("conditioning_scale", controlNet.ConditioningScaleInput?.Name);
    }

    [Fact]
    public void ResidualsMatchTorch()
    {
        // controlnet-a at conditioning_scale 0.75 on the fixture inputs; reference: torch (generate_controlnet_fixtures.py).
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"));
        ControlNetResiduals residuals = controlNet.CreateResiduals(ControlNetFixtures.Batch, 8, 8);

        controlNet.Run(ControlNetFixtures.Reference("sample.f32"), 2, 8, 8, ControlNetFixtures.Timestep,
            ControlNetFixtures.Reference("encoder_hidden_states.f32"), Sequence, ControlNetFixtures.ControlImageA(), 0.75f, residuals);

        float worst = MaxAbsDifference(residuals.MidBlock.Span, ControlNetFixtures.Reference("controlnet_a_mid.f32"));
        for (int i = 0; i < 12; i++)
        {
            float difference = MaxAbsDifference(residuals.GetDownBlock(i).Span, ControlNetFixtures.Reference($"controlnet_a_down_{i}.f32"));
            Assert.True(difference < 1e-4f, $"down residual {i}: max |ORT − torch| = {difference}");
            worst = MathF.Max(worst, difference);
        }
        Assert.True(worst < 1e-4f, $"mid residual: max |ORT − torch| = {worst}");
        TestContext.Current.TestOutputHelper?.WriteLine($"residuals: max |ORT − torch| = {worst}");
    }

    [Fact]
    public void ScaleWithoutAScaleInputIsAppliedToTheOutputs()
    {
        // controlnet-b has no conditioning_scale input: Run multiplies its outputs, as ControlNetModel does inside.
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-b"));
        Assert.Null(controlNet.ConditioningScaleInput);
        ControlNetResiduals full = controlNet.CreateResiduals(2, 8, 8);
        ControlNetResiduals half = controlNet.CreateResiduals(2, 8, 8);
        float[] sample = ControlNetFixtures.Reference("sample.f32");
        float[] text = ControlNetFixtures.Reference("encoder_hidden_states.f32");

        controlNet.Run(sample, 2, 8, 8, 500f, text, Sequence, ControlNetFixtures.ControlImageB(), 1f, full);
        controlNet.Run(sample, 2, 8, 8, 500f, text, Sequence, ControlNetFixtures.ControlImageB(), 0.5f, half);

        Span<float> a = full.GetDownBlock(5).Span, b = half.GetDownBlock(5).Span;
        Assert.True(MaxAbs(a) > 0.01f);
        for (int i = 0; i < a.Length; i++)
            Assert.Equal(a[i] * 0.5f, b[i], 6);
    }

    [Fact]
    public void SplitUNetWithTorchResidualsMatchesTorch()
    {
        using var unet = UNet.Load(ControlNetFixtures.Model("unet-controlnet"));
        Assert.True(unet.AcceptsControlNetResiduals);
        Assert.Equal(12, unet.DownBlockResidualInputs.Count);
        Assert.Equal("down_block_0_additional_residual", unet.DownBlockResidualInputs[0].Name);
        ControlNetResiduals residuals = unet.CreateControlNetResiduals(2, 8, 8);
        for (int i = 0; i < 12; i++)
            ControlNetFixtures.Reference($"controlnet_a_down_{i}.f32").CopyTo(residuals.GetDownBlock(i));
        ControlNetFixtures.Reference("controlnet_a_mid.f32").CopyTo(residuals.MidBlock);
        float[] prediction = new float[2 * 4 * 8 * 8];

        unet.PredictWithControlNet(ControlNetFixtures.Reference("sample.f32"), 2, 8, 8, 500f,
            ControlNetFixtures.Reference("encoder_hidden_states.f32"), Sequence, prediction, residuals);

        float difference = MaxAbsDifference(prediction, ControlNetFixtures.Reference("unet_controlled_a.f32"));
        TestContext.Current.TestOutputHelper?.WriteLine($"split UNet: max |ORT − torch| = {difference}");
        Assert.True(difference < 1e-4f);
    }

    [Fact]
    public void SplitUNetWithoutResidualsPredictsLikeThePlainUNet()
    {
        // A plain Predict on a residual UNet feeds zero residuals: skip + 0 is the plain UNet's computation.
        using var controlled = UNet.Load(ControlNetFixtures.Model("unet-controlnet"));
        using var plain = UNet.Load(ControlNetFixtures.Model("unet"));
        Assert.False(plain.AcceptsControlNetResiduals);
        float[] sample = ControlNetFixtures.Reference("sample.f32");
        float[] text = ControlNetFixtures.Reference("encoder_hidden_states.f32");
        float[] a = new float[sample.Length], b = new float[sample.Length];

        controlled.Predict(sample, 2, 8, 8, 500f, text, Sequence, a);
        plain.Predict(sample, 2, 8, 8, 500f, text, Sequence, b);

        Assert.Equal(b, a);
        Assert.True(MaxAbsDifference(b, ControlNetFixtures.Reference("unet_plain.f32")) < 1e-4f);
    }

    [Fact]
    public void FusedUNetMatchesTorch()
    {
        // diffusers' convert_stable_diffusion_controlnet_to_onnx.py form: controlnet_conds [2,batch,3,64,64], conditioning_scales [2,1].
        using var unet = UNet.Load(ControlNetFixtures.Model("unet-controlnet-fused"));
        Assert.True(unet.IsFusedControlNet);
        Assert.Equal(2, unet.FusedControlNetCount);
        float[] images = [.. ControlNetFixtures.ControlImageA(), .. ControlNetFixtures.ControlImageB()];
        float[] prediction = new float[2 * 4 * 8 * 8];

        unet.PredictWithControlNet(ControlNetFixtures.Reference("sample.f32"), 2, 8, 8, 500f,
            ControlNetFixtures.Reference("encoder_hidden_states.f32"), Sequence, prediction, images, [0.75f, 0.5f]);

        float difference = MaxAbsDifference(prediction, ControlNetFixtures.Reference("unet_fused.f32"));
        TestContext.Current.TestOutputHelper?.WriteLine($"fused UNet: max |ORT − torch| = {difference}");
        Assert.True(difference < 1e-4f);
    }

    [Fact]
    public void ControlNetWhoseResidualsDoNotFitTheUNetIsAContractError()
    {
        using var unet = UNet.Load(ControlNetFixtures.Model("unet-controlnet"));
        using var mismatched = ControlNet.Load(ControlNetFixtures.Model("controlnet-mismatch"));
        ControlNetUnit unit = new() { Model = mismatched, Image = new ImageBuffer(64, 64) };

        var error = Assert.Throws<ModelContractException>(() => ControlNetConditioner.Create(unet, [unit], 64, 64, 2));

        Assert.Equal(mismatched.ModelPath, error.ModelPath);
        Assert.Equal("down_block_res_sample_0", error.TensorName);
    }

    [Fact]
    public void SplitControlNetOnAUNetWithoutResidualInputsIsAContractError()
    {
        using var unet = UNet.Load(ControlNetFixtures.Model("unet"));
        using var controlNet = ControlNet.Load(ControlNetFixtures.Model("controlnet-a"));
        ControlNetUnit unit = new() { Model = controlNet, Image = new ImageBuffer(64, 64) };

        var error = Assert.Throws<ModelContractException>(() => ControlNetConditioner.Create(unet, [unit], 64, 64, 2));

        Assert.Equal(unet.ModelPath, error.ModelPath);
    }

    [Fact]
    public void FusedUNetNeedsFusedIndicesWithinItsCount()
    {
        using var unet = UNet.Load(ControlNetFixtures.Model("unet-controlnet-fused"));
        ControlNetUnit unit = new() { FusedIndex = 2, Image = new ImageBuffer(64, 64) };

        var error = Assert.Throws<InvalidOptionException>(() => ControlNetConditioner.Create(unet, [unit], 64, 64, 2));

        Assert.Equal("ControlNets[0].FusedIndex", error.OptionName);
    }

    [Theory]
    [InlineData(3, 1)] // odd sizes round up at each stride-2 downsampler: 3 → 2 → 1 → 1
    [InlineData(16, 2)] // 16 → 8 → 4 → 2
    public void ResidualSizesHalveEveryThreeResiduals(int latentSize, int deepest)
    {
        var residuals = new ControlNetResiduals([4, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8], 8, 1, latentSize, latentSize);

        Assert.Equal([1L, 4, latentSize, latentSize], residuals.GetDownBlockShape(2).ToArray());
        Assert.Equal([1L, 4, (latentSize + 1) / 2, (latentSize + 1) / 2], residuals.GetDownBlockShape(3).ToArray());
        Assert.Equal(deepest, (int)residuals.MidBlockShape[3]);
    }

    private static float MaxAbsDifference(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        float max = 0;
        for (int i = 0; i < actual.Length; i++)
            max = MathF.Max(max, MathF.Abs(actual[i] - expected[i]));
        return max;
    }

    private static float MaxAbs(ReadOnlySpan<float> values)
    {
        float max = 0;
        foreach (float v in values)
            max = MathF.Max(max, MathF.Abs(v));
        return max;
    }
}
