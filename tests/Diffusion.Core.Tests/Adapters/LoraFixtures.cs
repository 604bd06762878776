using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Adapters;

/// <summary>
/// The files written by <c>tools/reference-data/lora/generate_lora_fixtures.py</c> (tiny torch models with
/// diffusers/CLIP module names, LoRAs in both key styles, torch-merged outputs) and helpers to run the models.
/// </summary>
internal static class LoraFixtures
{
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "lora", name);

    public static string UNet => PathOf("unet.onnx");

    public static string TextEncoder => PathOf("text_encoder.onnx");

    public static float[] ReadF32(string name) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(PathOf(name))).ToArray();

    public static int[] ReadI32(string name) => MemoryMarshal.Cast<byte, int>(File.ReadAllBytes(PathOf(name))).ToArray();

    /// <summary>Runs the fixture UNet (sample [1,4,6,6], temb [1,8], encoder_hidden_states [1,5,16]) with optional overrides.</summary>
    public static float[] RunUNet(string modelPath, WeightOverrides? overrides = null, bool float16 = false)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        overrides?.ApplyTo(options);
        using var session = new InferenceSession(modelPath, options);
        using OrtValue sample = Input(ReadF32("unet_sample.f32"), [1, 4, 6, 6], float16);
        using OrtValue temb = Input(ReadF32("unet_temb.f32"), [1, 8], float16);
        using OrtValue ehs = Input(ReadF32("unet_ehs.f32"), [1, 5, 16], float16);
        using var runOptions = new RunOptions();
        using IDisposableReadOnlyCollection<OrtValue> outputs =
            session.Run(runOptions, ["sample", "temb", "encoder_hidden_states"], [sample, temb, ehs], ["out_sample"]);
        if (!float16)
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        ReadOnlySpan<Float16> halves = outputs[0].GetTensorDataAsSpan<Float16>();
        var result = new float[halves.Length];
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(halves), result);
        return result;
    }

    /// <summary>Runs the fixture text encoder (input_ids int32 [1,6]) with optional overrides.</summary>
    public static float[] RunTextEncoder(string modelPath, int[] ids, WeightOverrides? overrides = null)
    {
        using var options = new SessionOptions();
        overrides?.ApplyTo(options);
        using var session = new InferenceSession(modelPath, options);
        using var input = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]);
        using var runOptions = new RunOptions();
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(runOptions, ["input_ids"], [input], ["last_hidden_state"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public static float MaxAbsDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++)
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    private static OrtValue Input(float[] values, long[] shape, bool float16)
    {
        if (!float16)
            return OrtValue.CreateTensorValueFromMemory(values, shape);
        var halves = new Float16[values.Length];
        TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<Float16, Half>(halves.AsSpan()));
        return OrtValue.CreateTensorValueFromMemory(halves, shape);
    }
}
