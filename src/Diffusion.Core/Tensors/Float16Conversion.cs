using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tensors;

/// <summary>
/// float32 ↔ float16 conversion for models exported in half precision. ONNX Runtime's
/// <see cref="Float16"/> and .NET's <see cref="Half"/> are both one IEEE binary16 value in a 16-bit
/// field, so spans of one are reinterpreted as the other and converted by <see cref="TensorPrimitives"/>
/// (vectorised, round-to-nearest-even like torch's <c>.half()</c>).
/// </summary>
internal static class Float16Conversion
{
    /// <summary>Converts <paramref name="source"/> to half precision into <paramref name="destination"/> (same length).</summary>
    public static void ToFloat16(ReadOnlySpan<float> source, Span<Float16> destination)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"Destination has {destination.Length} elements, source {source.Length}.", nameof(destination));
        TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<Float16, Half>(destination));
    }

    /// <summary>Converts half-precision <paramref name="source"/> to float32 into <paramref name="destination"/> (same length).</summary>
    public static void ToSingle(ReadOnlySpan<Float16> source, Span<float> destination)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"Destination has {destination.Length} elements, source {source.Length}.", nameof(destination));
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(source), destination);
    }
}
