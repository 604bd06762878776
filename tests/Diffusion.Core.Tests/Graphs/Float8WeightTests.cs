using System.Text;
using System.Text.Json;
using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// fp8 checkpoints (safetensors F8_E4M3 / F8_E5M2, as FLUX.1 and SD3.5 files are often published): the formats' values,
/// and a graph built over fp8 weights computing exactly what it computes over the same values widened to float32.
/// </summary>
public sealed class Float8WeightTests
{
    [Theory]
    [InlineData(0x38, 1f)]
    [InlineData(0x7E, 448f)]          // the largest E4M3FN value
    [InlineData(0xFE, -448f)]
    [InlineData(0x08, 0.015625f)]     // the smallest normal, 2^-6
    [InlineData(0x01, 0.001953125f)]  // the smallest subnormal, 2^-9
    [InlineData(0x46, 3.5f)]          // 1.75 · 2^1
    public void E4m3fn_bytes_widen_to_their_values(int code, float value)
    {
        float[] widened = new float[1];
        Float8.E4M3FnToSingle([(byte)code], widened);
        Assert.Equal(value, widened[0]);
    }

    [Theory]
    [InlineData(0x3C, 1f)]
    [InlineData(0x7B, 57344f)]        // the largest finite E5M2 value
    [InlineData(0x7C, float.PositiveInfinity)]
    [InlineData(0xFC, float.NegativeInfinity)]
    [InlineData(0x04, 6.1035156e-05f)] // 2^-14
    [InlineData(0x01, 1.5258789e-05f)] // 2^-16
    public void E5m2_bytes_widen_to_their_values(int code, float value)
    {
        float[] widened = new float[1];
        Float8.E5M2ToSingle([(byte)code], widened);
        Assert.Equal(value, widened[0]);
    }

    [Fact]
    public void The_nan_codes_are_nan()
    {
        float[] widened = new float[3];
        Float8.E4M3FnToSingle([0x7F, 0xFF], widened);
        Float8.E5M2ToSingle([0x7D], widened.AsSpan(2));
        Assert.All(widened, v => Assert.True(float.IsNaN(v)));
    }

    [Theory]
    [InlineData("F8_E4M3")]
    [InlineData("F8_E5M2")]
    public void A_t5_encoder_built_over_fp8_weights_equals_one_over_the_same_values_in_float32(string dtype)
    {
        string source = GraphFixtures.Fixture("t5");
        string root = Directory.CreateTempSubdirectory("diffusion-core-fp8-").FullName;
        string fp8 = Directory.CreateDirectory(Path.Combine(root, "fp8")).FullName;
        string widened = Directory.CreateDirectory(Path.Combine(root, "f32")).FullName;
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(fp8, "config.json"));
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(widened, "config.json"));
        var random = new Random(8);
        var codes = new List<(string Name, long[] Shape, byte[] Codes)>();
        using (SafeTensorsFile file = SafeTensorsFile.Open(Path.Combine(source, "model.safetensors")))
        {
            foreach (SafeTensorInfo info in file.Tensors)
                codes.Add((info.Name, info.ShapeArray, RandomCodes(random, checked((int)info.ElementCount), dtype)));
        }
        Write(Path.Combine(fp8, "model.safetensors"), dtype, codes.Select(c => (c.Name, c.Shape, c.Codes)));
        Write(Path.Combine(widened, "model.safetensors"), "F32", codes.Select(c => (c.Name, c.Shape, ToFloat32Bytes(c.Codes, dtype))));

        using (SafeTensorsFile written = SafeTensorsFile.Open(Path.Combine(fp8, "model.safetensors")))
        {
            (string name, _, byte[] first) = codes[0];
            Assert.Equal(Widen(first, dtype), written.ReadAsFloat32(name)); // the reader widens the same way
        }
        float[] fromFp8 = Run(CheckpointTextEncoder.Build(fp8));
        float[] fromFloat32 = Run(CheckpointTextEncoder.Build(widened));
        Assert.All(fromFp8, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(fromFloat32, fromFp8);
    }

    // Moderate magnitudes (E4M3: 2^-4 … 2^2; E5M2: 2^-4 … 2^1), both signs, every mantissa.
    private static byte[] RandomCodes(Random random, int count, string dtype)
    {
        var bytes = new byte[count];
        for (int i = 0; i < count; i++)
        {
            int sign = random.Next(2) << 7;
            bytes[i] = dtype == "F8_E4M3"
                ? (byte)(sign | random.Next(3, 10) << 3 | random.Next(8))
                : (byte)(sign | random.Next(11, 17) << 2 | random.Next(4));
        }
        return bytes;
    }

    private static float[] Widen(byte[] codes, string dtype)
    {
        var values = new float[codes.Length];
        if (dtype == "F8_E4M3")
            Float8.E4M3FnToSingle(codes, values);
        else
            Float8.E5M2ToSingle(codes, values);
        return values;
    }

    private static byte[] ToFloat32Bytes(byte[] codes, string dtype)
    {
        float[] values = Widen(codes, dtype);
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    private static void Write(string path, string dtype, IEnumerable<(string Name, long[] Shape, byte[] Data)> tensors)
    {
        var header = new Dictionary<string, object>();
        var data = new MemoryStream();
        foreach ((string name, long[] shape, byte[] bytes) in tensors)
        {
            header[name] = new { dtype, shape, data_offsets = new[] { data.Length, data.Length + bytes.Length } };
            data.Write(bytes);
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using FileStream file = File.Create(path);
        file.Write(BitConverter.GetBytes((ulong)json.Length));
        file.Write(json);
        data.Position = 0;
        data.CopyTo(file);
    }

    private static float[] Run(BuiltModel built)
    {
        long[] ids = [5, 17, 3, 99, 1, 0, 0, 0];
        using InferenceSession session = SessionFactory.Create(built.ToSource(), new SessionSettings { IntraOpThreads = 1 });
        using OrtValue input = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]);
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(new RunOptions(), ["input_ids"], [input], ["last_hidden_state"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
