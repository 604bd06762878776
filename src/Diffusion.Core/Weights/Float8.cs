namespace Diffusion.Core.Weights;

/// <summary>
/// The two 8-bit float formats fp8 checkpoints store (safetensors <c>F8_E4M3</c> = torch's <c>float8_e4m3fn</c> = ONNX
/// FLOAT8E4M3FN; <c>F8_E5M2</c> = <c>float8_e5m2</c> = ONNX FLOAT8E5M2), widened to float32 exactly through a 256-entry
/// table each. E4M3FN: bias 7, no infinities, S.1111.111 is NaN, largest 448. E5M2: bias 15, IEEE-like (infinities at
/// exponent 31), largest 57344.
/// </summary>
internal static class Float8
{
    private static readonly float[] s_e4m3fn = Table(exponentBits: 4, bias: 7, ieeeSpecials: false);
    private static readonly float[] s_e5m2 = Table(exponentBits: 5, bias: 15, ieeeSpecials: true);

    /// <summary>Widens E4M3FN bytes to float32.</summary>
    public static void E4M3FnToSingle(ReadOnlySpan<byte> source, Span<float> destination) => Widen(s_e4m3fn, source, destination);

    /// <summary>Widens E5M2 bytes to float32.</summary>
    public static void E5M2ToSingle(ReadOnlySpan<byte> source, Span<float> destination) => Widen(s_e5m2, source, destination);

    private static void Widen(float[] table, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"holds {destination.Length} values; {source.Length} are needed.", nameof(destination));
        for (int i = 0; i < source.Length; i++)
            destination[i] = table[source[i]];
    }

    private static float[] Table(int exponentBits, int bias, bool ieeeSpecials)
    {
        int mantissaBits = 7 - exponentBits;
        int exponentMax = (1 << exponentBits) - 1, mantissaMax = (1 << mantissaBits) - 1;
        var table = new float[256];
        for (int code = 0; code < 256; code++)
        {
            int exponent = (code >> mantissaBits) & exponentMax, mantissa = code & mantissaMax;
            float sign = (code & 0x80) != 0 ? -1f : 1f;
            float magnitude;
            if (ieeeSpecials && exponent == exponentMax)
                magnitude = mantissa == 0 ? float.PositiveInfinity : float.NaN;
            else if (!ieeeSpecials && exponent == exponentMax && mantissa == mantissaMax)
                magnitude = float.NaN;
            else if (exponent == 0)
                magnitude = MathF.ScaleB(mantissa, 1 - bias - mantissaBits); // subnormal: m · 2^(1 − bias − mantissa bits)
            else
                magnitude = MathF.ScaleB((1 << mantissaBits) + mantissa, exponent - bias - mantissaBits);
            table[code] = sign * magnitude;
        }
        return table;
    }
}
