using Diffusion.Core.Adapters;
using Diffusion.Core.Tests.Weights;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Tests.Adapters;

/// <summary>
/// Runtime merging (weight overrides at session creation) against torch: the reference outputs are the fixture
/// models with the same LoRA merged into their torch weights (generate_lora_fixtures.py, torch 1.13), run in torch.
/// </summary>
public class LoraMergerTests
{
    private const float Tolerance = 1e-4f;

    private static LoraAdapter Lora(string name) => LoraAdapter.Load(LoraFixtures.PathOf(name));

    private static float[] MergeAndRun(string modelPath, params LoraWeight[] loras)
    {
        using WeightOverrides overrides = LoraMerger.CreateOverrides(modelPath, LoraTarget.UNet, loras, out _);
        return LoraFixtures.RunUNet(modelPath, overrides);
    }

    [Fact]
    public void BaseModelMatchesTorch()
    {
        float[] output = LoraFixtures.RunUNet(LoraFixtures.UNet);

        Assert.True(LoraFixtures.MaxAbsDifference(output, LoraFixtures.ReadF32("unet_base_out.f32")) < Tolerance);
    }

    [Fact]
    public void KohyaLoraMergedAtRuntimeMatchesTorchMerge()
    {
        // unet_kohya: rank 4, alpha 2, fp16 factors on 10 Linear (MatMul), 1 Gemm, two 1x1 and two 3x3 Convs; multiplier 0.8.
        float[] output = MergeAndRun(LoraFixtures.UNet, new LoraWeight(Lora("unet_kohya.safetensors"), 0.8f));

        float[] expected = LoraFixtures.ReadF32("unet_kohya_0.8_out.f32");
        Assert.True(LoraFixtures.MaxAbsDifference(output, expected) < Tolerance, $"max |diff| {LoraFixtures.MaxAbsDifference(output, expected)}");
        Assert.True(LoraFixtures.MaxAbsDifference(output, LoraFixtures.ReadF32("unet_base_out.f32")) > 0.1f);
    }

    [Fact]
    public void PeftLoraMergedAtRuntimeMatchesTorchMerge()
    {
        // unet_peft: diffusers keys unet.<module>.lora_A/lora_B.weight, fp32, rank 2, no alpha (scale 1).
        float[] output = MergeAndRun(LoraFixtures.UNet, new LoraWeight(Lora("unet_peft.safetensors"), 1f));

        float[] expected = LoraFixtures.ReadF32("unet_peft_1.0_out.f32");
        Assert.True(LoraFixtures.MaxAbsDifference(output, expected) < Tolerance, $"max |diff| {LoraFixtures.MaxAbsDifference(output, expected)}");
    }

    [Fact]
    public void KohyaLoraOnExternalDataModelMatchesTorchMerge()
    {
        string model = LoraFixtures.PathOf("unet_external/model.onnx");

        float[] output = MergeAndRun(model, new LoraWeight(Lora("unet_kohya.safetensors"), 0.8f));

        Assert.True(LoraFixtures.MaxAbsDifference(output, LoraFixtures.ReadF32("unet_kohya_0.8_out.f32")) < Tolerance);
    }

    [Fact]
    public void TwoLorasComposeAdditively()
    {
        float[] output = MergeAndRun(LoraFixtures.UNet,
            new LoraWeight(Lora("unet_kohya.safetensors"), 0.8f), new LoraWeight(Lora("unet_peft.safetensors"), -0.5f));

        float[] expected = LoraFixtures.ReadF32("unet_kohya_0.8_peft_-0.5_out.f32");
        Assert.True(LoraFixtures.MaxAbsDifference(output, expected) < Tolerance, $"max |diff| {LoraFixtures.MaxAbsDifference(output, expected)}");
    }

    [Fact]
    public void MultiplierZeroIsBitIdenticalToTheBaseModel()
    {
        float[] baseline = LoraFixtures.RunUNet(LoraFixtures.UNet);

        float[] output = MergeAndRun(LoraFixtures.UNet, new LoraWeight(Lora("unet_kohya.safetensors"), 0f));

        Assert.Equal(baseline, output);
    }

    [Fact]
    public void ConvWeightOverrideTakesEffectAtTheDefaultOptimizationLevel()
    {
        // Only proj_in (1x1) and conv_in (3x3) are adapted. ORT 1.31's NCHWc transformer would keep the file's Conv
        // weights at ORT_ENABLE_ALL; ApplyTo disables that transformer, so the merged weights must show.
        using WeightOverrides overrides = LoraMerger.CreateOverrides(LoraFixtures.UNet, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_conv_only.safetensors"), 1f)], out LoraApplicationReport report);

        float[] output = LoraFixtures.RunUNet(LoraFixtures.UNet, overrides);

        Assert.True(overrides.ContainsConvWeights);
        Assert.Equal(["conv_in.weight", "down_blocks.0.attentions.0.proj_in.weight"], overrides.Names.Order());
        Assert.Equal(2, report.MatchedModules.Count);
        Assert.True(LoraFixtures.MaxAbsDifference(output, LoraFixtures.ReadF32("unet_conv_only_1.0_out.f32")) < Tolerance);
    }

    [Fact]
    public void WithoutTheNchwcSettingOrtIgnoresConvOverrides()
    {
        // Why ApplyTo sets optimization.disable_specified_optimizers: the same overrides added by hand, without it,
        // leave the output exactly the base model's (ORT 1.31.1, ORT_ENABLE_ALL). Fails once ORT stops doing that.
        using WeightOverrides overrides = LoraMerger.CreateOverrides(LoraFixtures.UNet, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_conv_only.safetensors"), 1f)], out _);
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions();
        var values = new List<Microsoft.ML.OnnxRuntime.OrtValue>();
        foreach (string name in overrides.Names)
        {
            values.Add(OverrideValue(overrides, name));
            options.AddInitializer(name, values[^1]);
        }

        float[] output;
        using (var session = new Microsoft.ML.OnnxRuntime.InferenceSession(LoraFixtures.UNet, options))
            output = RunSession(session);
        values.ForEach(v => v.Dispose());

        Assert.Equal(Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL, options.GraphOptimizationLevel);
        Assert.Equal(LoraFixtures.RunUNet(LoraFixtures.UNet), output);
    }

    [Fact]
    public void Float16ModelGetsFloat16OverridesCloseToTheFloat32Merge()
    {
        string model = LoraFixtures.PathOf("unet_fp16.onnx");
        using WeightOverrides overrides = LoraMerger.CreateOverrides(model, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_kohya.safetensors"), 0.8f)], out _);

        float[] output = LoraFixtures.RunUNet(model, overrides, float16: true);

        Assert.All(overrides.Names, name => Assert.Equal(TensorElementType.Float16, overrides.ElementTypeOf(name)));
        float[] expected = LoraFixtures.ReadF32("unet_kohya_0.8_out.f32");
        float[] unmerged = LoraFixtures.ReadF32("unet_base_out.f32");
        // float16 arithmetic: within 2e-2 of the float32 torch merge, while the merge moves the output by > 0.1.
        Assert.True(LoraFixtures.MaxAbsDifference(output, expected) < 2e-2f, $"max |diff| {LoraFixtures.MaxAbsDifference(output, expected)}");
        Assert.True(LoraFixtures.MaxAbsDifference(output, unmerged) > 0.1f);
    }

    [Fact]
    public void MatMulWeightsStoredInOutGetTheTransposedUpdate()
    {
        // attn2.to_k maps 16 text features to 8: torch weight [8, 16], ONNX MatMul weight [16, 8].
        using WeightOverrides overrides = LoraMerger.CreateOverrides(LoraFixtures.UNet, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_peft.safetensors"), 1f)], out LoraApplicationReport report);
        string entry = report.MatchedModules.Single(m => m.Contains("attn2.to_k"));
        string initializer = entry[(entry.IndexOf("-> ", StringComparison.Ordinal) + 3)..];
        OnnxModelGraph graph = OnnxWeightReader.Read(LoraFixtures.UNet);
        float[] original = graph.ReadAsFloat32(graph.Initializers[initializer]);
        using SafeTensorsFile file = SafeTensorsFile.Open(LoraFixtures.PathOf("unet_peft.safetensors"));
        float[] down = file.ReadAsFloat32("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight"); // [2, 16]
        float[] up = file.ReadAsFloat32("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight");   // [8, 2]

        float[] merged = overrides.ReadAsFloat32(initializer);

        for (int i = 0; i < 16; i++)
        {
            for (int o = 0; o < 8; o++)
            {
                float update = up[o * 2] * down[i] + up[o * 2 + 1] * down[16 + i];
                Assert.Equal(original[i * 8 + o] + update, merged[i * 8 + o], 5e-6f);
            }
        }
    }

    [Fact]
    public void UnmatchedKeysAreReportedNotDropped()
    {
        using WeightOverrides overrides = LoraMerger.CreateOverrides(LoraFixtures.UNet, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_kohya_with_unmatched.safetensors"), 0.8f)], out LoraApplicationReport report);

        Assert.Equal(15, report.MatchedModules.Count);
        Assert.Equal(
            ["unet_kohya_with_unmatched: lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q",
             "unet_kohya_with_unmatched: lora_unet_up_blocks_1_attentions_2_proj_out"],
            report.UnmatchedKeys);
        Assert.Contains("2 keys unmatched", report.ToString());
        Assert.True(LoraFixtures.MaxAbsDifference(LoraFixtures.RunUNet(LoraFixtures.UNet, overrides), LoraFixtures.ReadF32("unet_kohya_0.8_out.f32")) < Tolerance);
    }

    [Fact]
    public void KohyaUnderscoresResolveAgainstTheGraphNotByReplacingEveryUnderscore()
    {
        // 'transformer_blocks', 'to_q', 'proj_in', 'conv_in', 'linear_1' keep their underscores.
        using WeightOverrides overrides = LoraMerger.CreateOverrides(LoraFixtures.UNet, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_kohya.safetensors"), 1f)], out LoraApplicationReport report);

        Assert.Empty(report.UnmatchedKeys);
        Assert.Contains("unet_kohya: lora_unet_time_embedding_linear_1 -> time_embedding.linear_1.weight", report.MatchedModules);
        Assert.Contains("unet_kohya: lora_unet_down_blocks_0_attentions_0_proj_in -> down_blocks.0.attentions.0.proj_in.weight", report.MatchedModules);
    }

    [Fact]
    public void LoraForAnotherArchitectureIsATypedError()
    {
        var error = Assert.Throws<LoraMismatchException>(() => LoraMerger.CreateOverrides(LoraFixtures.UNet, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_other_arch.safetensors"), 1f)], out _));

        Assert.Contains("another architecture", error.Message);
        Assert.EndsWith("unet_other_arch.safetensors", error.LoraPath);
        Assert.Equal(LoraFixtures.UNet, error.ModelPath);
    }

    [Fact]
    public void FactorShapesThatDoNotFitTheWeightNameTheFileAndKey()
    {
        var error = Assert.Throws<LoraMismatchException>(() => LoraMerger.CreateOverrides(LoraFixtures.UNet, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_wrong_shape.safetensors"), 1f)], out _));

        Assert.Equal("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", error.Key);
        Assert.Contains("shape mismatch", error.Message);
    }

    [Fact]
    public void TextEncoderKohyaLoraMatchesTorchMergeAndSkipsUNetModules()
    {
        // te_kohya: lora_te_ keys (q_proj factors in BF16, the rest F16, alpha 1, rank 4) plus two lora_unet_ modules.
        int[] ids = LoraFixtures.ReadI32("te_ids.i32");
        using WeightOverrides overrides = LoraMerger.CreateOverrides(LoraFixtures.TextEncoder, LoraTarget.TextEncoder,
            [new LoraWeight(Lora("te_kohya.safetensors"), 1f)], out LoraApplicationReport report);

        float[] output = LoraFixtures.RunTextEncoder(LoraFixtures.TextEncoder, ids, overrides);

        Assert.Equal(6, report.MatchedModules.Count);
        Assert.Equal(2, report.OtherComponentModuleCount);
        Assert.True(LoraFixtures.MaxAbsDifference(output, LoraFixtures.ReadF32("te_kohya_1.0_out.f32")) < Tolerance);
    }

    [Fact]
    public void UNetOnlyLoraLeavesTheTextEncoderWithoutOverrides()
    {
        using WeightOverrides overrides = LoraMerger.CreateOverrides(LoraFixtures.TextEncoder, LoraTarget.TextEncoder,
            [new LoraWeight(Lora("unet_kohya.safetensors"), 1f)], out LoraApplicationReport report);

        Assert.Equal(0, overrides.Count);
        Assert.Equal(15, report.OtherComponentModuleCount);
    }

    [Fact]
    public void ANonFiniteMultiplierIsAnInvalidOption()
    {
        Assert.Throws<InvalidOptionException>(() => LoraMerger.CreateOverrides(LoraFixtures.UNet, LoraTarget.UNet,
            [new LoraWeight(Lora("unet_kohya.safetensors"), float.NaN)], out _));
    }

    [Fact]
    public void TinySdUNetLoraMatchesEveryAdaptableModule()
    {
        string model = SharedData.Require("models/tiny-sd/unet/model.onnx");

        using WeightOverrides overrides = LoraMerger.CreateOverrides(model, LoraTarget.UNet,
            [new LoraWeight(Lora("tinysd_unet_kohya.safetensors"), 1f)], out LoraApplicationReport report);

        // tiny-sd's UNet: 42 MatMul weights (the other 16 MatMuls are q·kᵀ and attn·v), 7 Gemm, 29 Conv weights.
        Assert.Equal(78, report.MatchedModules.Count);
        Assert.Empty(report.UnmatchedKeys);
        Assert.Equal(78, overrides.Count);
    }

    private static Microsoft.ML.OnnxRuntime.OrtValue OverrideValue(WeightOverrides overrides, string name)
    {
        float[] values = overrides.ReadAsFloat32(name);
        OnnxModelGraph graph = OnnxWeightReader.Read(overrides.ModelPath);
        return Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(values, graph.Initializers[name].Dims);
    }

    private static float[] RunSession(Microsoft.ML.OnnxRuntime.InferenceSession session)
    {
        using var sample = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(LoraFixtures.ReadF32("unet_sample.f32"), [1, 4, 6, 6]);
        using var temb = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(LoraFixtures.ReadF32("unet_temb.f32"), [1, 8]);
        using var ehs = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(LoraFixtures.ReadF32("unet_ehs.f32"), [1, 5, 16]);
        using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
        using var outputs = session.Run(runOptions, ["sample", "temb", "encoder_hidden_states"], [sample, temb, ehs], ["out_sample"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
