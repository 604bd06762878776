using System.Buffers.Binary;

namespace Diffusion.Core.Tests.Models;

/// <summary>
/// Reads the raw little-endian reference arrays of <c>shared/models/tiny-sd-variants/reference/</c>
/// (see its README: file, dtype and shape) and the tiny-sd model paths.
/// </summary>
internal static class ReferenceTensors
{
    public static string TinySd(string relative) => SharedData.Require(Path.Combine("models/tiny-sd", relative));

    public static string Variant(string relative) => SharedData.Require(Path.Combine("models/tiny-sd-variants", relative));

    public static float[] ReadFloats(string referenceFile)
    {
        byte[] bytes = File.ReadAllBytes(Variant(Path.Combine("reference", referenceFile)));
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        return values;
    }

    public static int[] ReadInts(string referenceFile)
    {
        byte[] bytes = File.ReadAllBytes(Variant(Path.Combine("reference", referenceFile)));
        var values = new int[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(i * 4));
        return values;
    }

    public static float MaxAbsDifference(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        float max = 0;
        for (int i = 0; i < actual.Length; i++)
            max = MathF.Max(max, MathF.Abs(actual[i] - expected[i]));
        return max;
    }

    public static string TestModel(string fileName) => Path.Combine(AppContext.BaseDirectory, "TestData", "models", fileName);
}
