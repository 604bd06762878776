using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Diffusion.Core.Randomness;

/// <summary>
/// Box-Muller over blocks of 16 uniforms in [0, 1): pair <c>j</c> with <c>j + 8</c>, write
/// <c>r cos θ</c> at <c>j</c> and <c>r sin θ</c> at <c>j + 8</c>, with <c>r = sqrt(-2 ln(1 - u[j]))</c> and
/// <c>θ = 2π u[j + 8]</c>. The arithmetic reproduces torch's <c>normal_fill_16_AVX2</c> bit for bit: the
/// Cephes single-precision log and sincos polynomials of <c>avx_mathfun.h</c>, with the multiply-adds
/// fused exactly where GCC contracts them in torch's x86-64 builds (with every multiply-add left unfused,
/// about 1% of torch's values come out one float ulp off; checked against torch 1.13 on 1.3 million values).
/// </summary>
/// <remarks>
/// Only IEEE-754 single-precision add, multiply, fused multiply-add and square root are used, all
/// correctly rounded, so the scalar and the AVX2 paths agree bit for bit on every platform. That also
/// makes this kernel the platform-independent transform of <see cref="FastRandomSource"/>.
/// </remarks>
internal static class CephesBoxMuller
{
    /// <summary>Elements per block: 8 Box-Muller pairs.</summary>
    public const int BlockLength = 16;

    private const int PairCount = 8;

    // float(2 * pi), as torch's _mm256_set1_ps(2.0f * c10::pi<double>) rounds it.
    private const float TwoPi = 6.28318548f;

    // Cephes logf constants (avx_mathfun.h).
    private const float SqrtHalf = 0.707106781186547524f;
    private const float LogP0 = 7.0376836292E-2f;
    private const float LogP1 = -1.1514610310E-1f;
    private const float LogP2 = 1.1676998740E-1f;
    private const float LogP3 = -1.2420140846E-1f;
    private const float LogP4 = +1.4249322787E-1f;
    private const float LogP5 = -1.6668057665E-1f;
    private const float LogP6 = +2.0000714765E-1f;
    private const float LogP7 = -2.4999993993E-1f;
    private const float LogP8 = +3.3333331174E-1f;
    private const float LogQ1 = -2.12194440e-4f;
    private const float LogQ2 = 0.693359375f;

    // Cephes sinf/cosf constants (avx_mathfun.h).
    private const float MinusDp1 = -0.78515625f;
    private const float MinusDp2 = -2.4187564849853515625e-4f;
    private const float MinusDp3 = -3.77489497744594108e-8f;
    private const float SinP0 = -1.9515295891E-4f;
    private const float SinP1 = 8.3321608736E-3f;
    private const float SinP2 = -1.6666654611E-1f;
    private const float CosP0 = 2.443315711809948E-005f;
    private const float CosP1 = -1.388731625493765E-003f;
    private const float CosP2 = 4.166664568298827E-002f;
    private const float FourOverPi = 1.27323954473516f;

    /// <summary>Transforms every whole block of 16 in <paramref name="data"/> in place (a shorter tail is left as is).</summary>
    public static void TransformBlocks(Span<float> data) => TransformBlocks(data, allowVectorized: true);

    /// <summary>As <see cref="TransformBlocks(Span{float})"/>; <paramref name="allowVectorized"/> = false forces the scalar path (tests compare the two).</summary>
    internal static void TransformBlocks(Span<float> data, bool allowVectorized)
    {
        int blockCount = data.Length / BlockLength;
        if (allowVectorized && Avx2.IsSupported && Fma.IsSupported)
        {
            ref float start = ref MemoryMarshal.GetReference(data);
            for (int block = 0; block < blockCount; block++)
                TransformBlockAvx2(ref Unsafe.Add(ref start, block * BlockLength));
            return;
        }
        for (int block = 0; block < blockCount; block++)
            TransformBlockScalar(data.Slice(block * BlockLength, BlockLength));
    }

    private static void TransformBlockScalar(Span<float> block)
    {
        for (int j = 0; j < PairCount; j++)
        {
            float u1 = 1f - block[j]; // [0, 1) -> (0, 1] for the log
            float radius = MathF.Sqrt(-2f * Log(u1));
            SinCos(TwoPi * block[j + PairCount], out float sine, out float cosine);
            // torch finishes with fmadd(n, std = 1, mean = 0), which only turns -0 into +0.
            block[j] = radius * cosine + 0f;
            block[j + PairCount] = radius * sine + 0f;
        }
    }

    /// <summary>Cephes logf for x in [2^-24, 1] (the Box-Muller range; no zero, negative, denormal or NaN handling).</summary>
    internal static float Log(float x)
    {
        int bits = BitConverter.SingleToInt32Bits(x);
        float exponent = (float)((bits >>> 23) - 0x7F) + 1f;
        // Mantissa with exponent forced to 2^-1: m in [0.5, 1).
        float m = BitConverter.Int32BitsToSingle((bits & ~0x7F800000) | 0x3F000000);
        if (m < SqrtHalf)
        {
            exponent -= 1f;
            x = m - 1f + m;
        }
        else
        {
            x = m - 1f;
        }

        float z = x * x;
        float y = LogP0;
        y = MathF.FusedMultiplyAdd(y, x, LogP1);
        y = MathF.FusedMultiplyAdd(y, x, LogP2);
        y = MathF.FusedMultiplyAdd(y, x, LogP3);
        y = MathF.FusedMultiplyAdd(y, x, LogP4);
        y = MathF.FusedMultiplyAdd(y, x, LogP5);
        y = MathF.FusedMultiplyAdd(y, x, LogP6);
        y = MathF.FusedMultiplyAdd(y, x, LogP7);
        y = MathF.FusedMultiplyAdd(y, x, LogP8);
        y *= x;
        y = MathF.FusedMultiplyAdd(y, z, exponent * LogQ1);
        y = MathF.FusedMultiplyAdd(z, -0.5f, y);
        return MathF.FusedMultiplyAdd(exponent, LogQ2, x + y);
    }

    /// <summary>Cephes sincosf for x in [0, 2π] (non-negative arguments only).</summary>
    internal static void SinCos(float x, out float sine, out float cosine)
    {
        int octant = (int)(x * FourOverPi);
        octant = (octant + 1) & ~1;
        float octantValue = octant;
        bool flipSine = (octant & 4) != 0;
        bool flipCosine = ((octant - 2) & 4) == 0;
        bool sinePolynomialIsSine = (octant & 2) == 0;

        // Extended-precision reduction: x - octant * pi/4 in three parts.
        x = MathF.FusedMultiplyAdd(octantValue, MinusDp1, x);
        x = MathF.FusedMultiplyAdd(octantValue, MinusDp2, x);
        x = MathF.FusedMultiplyAdd(octantValue, MinusDp3, x);

        float z = x * x;
        float cosPoly = MathF.FusedMultiplyAdd(CosP0, z, CosP1);
        cosPoly = MathF.FusedMultiplyAdd(cosPoly, z, CosP2);
        cosPoly *= z;
        cosPoly = MathF.FusedMultiplyAdd(cosPoly, z, -(z * 0.5f));
        cosPoly += 1f;

        float sinPoly = MathF.FusedMultiplyAdd(SinP0, z, SinP1);
        sinPoly = MathF.FusedMultiplyAdd(sinPoly, z, SinP2);
        sinPoly *= z;
        sinPoly = MathF.FusedMultiplyAdd(sinPoly, x, x);

        sine = sinePolynomialIsSine ? sinPoly : cosPoly;
        cosine = sinePolynomialIsSine ? cosPoly : sinPoly;
        if (flipSine)
            sine = -sine;
        if (flipCosine)
            cosine = -cosine;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransformBlockAvx2(ref float block)
    {
        Vector256<float> u1 = Avx.Subtract(Vector256<float>.One, Vector256.LoadUnsafe(ref block));
        Vector256<float> u2 = Vector256.LoadUnsafe(ref block, PairCount);
        Vector256<float> radius = Avx.Sqrt(Avx.Multiply(Vector256.Create(-2f), LogAvx2(u1)));
        SinCosAvx2(Avx.Multiply(Vector256.Create(TwoPi), u2), out Vector256<float> sine, out Vector256<float> cosine);
        Avx.Add(Avx.Multiply(radius, cosine), Vector256<float>.Zero).StoreUnsafe(ref block);
        Avx.Add(Avx.Multiply(radius, sine), Vector256<float>.Zero).StoreUnsafe(ref block, PairCount);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LogAvx2(Vector256<float> x)
    {
        Vector256<float> one = Vector256<float>.One;
        Vector256<int> bits = x.AsInt32();
        Vector256<float> exponent = Avx.Add(
            Avx.ConvertToVector256Single(Avx2.Subtract(Avx2.ShiftRightLogical(bits, 23), Vector256.Create(0x7F))), one);
        Vector256<float> m = Avx2.Or(Avx2.And(bits, Vector256.Create(~0x7F800000)), Vector256.Create(0x3F000000)).AsSingle();
        Vector256<float> below = Avx.CompareLessThan(m, Vector256.Create(SqrtHalf));
        exponent = Avx.Subtract(exponent, Avx.And(one, below));
        x = Avx.Add(Avx.Subtract(m, one), Avx.And(m, below));

        Vector256<float> z = Avx.Multiply(x, x);
        Vector256<float> y = Vector256.Create(LogP0);
        y = Fma.MultiplyAdd(y, x, Vector256.Create(LogP1));
        y = Fma.MultiplyAdd(y, x, Vector256.Create(LogP2));
        y = Fma.MultiplyAdd(y, x, Vector256.Create(LogP3));
        y = Fma.MultiplyAdd(y, x, Vector256.Create(LogP4));
        y = Fma.MultiplyAdd(y, x, Vector256.Create(LogP5));
        y = Fma.MultiplyAdd(y, x, Vector256.Create(LogP6));
        y = Fma.MultiplyAdd(y, x, Vector256.Create(LogP7));
        y = Fma.MultiplyAdd(y, x, Vector256.Create(LogP8));
        y = Avx.Multiply(y, x);
        y = Fma.MultiplyAdd(y, z, Avx.Multiply(exponent, Vector256.Create(LogQ1)));
        y = Fma.MultiplyAdd(z, Vector256.Create(-0.5f), y);
        return Fma.MultiplyAdd(exponent, Vector256.Create(LogQ2), Avx.Add(x, y));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SinCosAvx2(Vector256<float> x, out Vector256<float> sine, out Vector256<float> cosine)
    {
        Vector256<int> octant = Avx.ConvertToVector256Int32WithTruncation(Avx.Multiply(x, Vector256.Create(FourOverPi)));
        octant = Avx2.And(Avx2.Add(octant, Vector256.Create(1)), Vector256.Create(~1));
        Vector256<float> octantValue = Avx.ConvertToVector256Single(octant);
        Vector256<float> sineSign = Avx2.ShiftLeftLogical(Avx2.And(octant, Vector256.Create(4)), 29).AsSingle();
        Vector256<float> cosineSign = Avx2.ShiftLeftLogical(
            Avx2.AndNot(Avx2.Subtract(octant, Vector256.Create(2)), Vector256.Create(4)), 29).AsSingle();
        Vector256<float> sinePolynomialIsSine = Avx2.CompareEqual(Avx2.And(octant, Vector256.Create(2)), Vector256<int>.Zero).AsSingle();

        x = Fma.MultiplyAdd(octantValue, Vector256.Create(MinusDp1), x);
        x = Fma.MultiplyAdd(octantValue, Vector256.Create(MinusDp2), x);
        x = Fma.MultiplyAdd(octantValue, Vector256.Create(MinusDp3), x);

        Vector256<float> z = Avx.Multiply(x, x);
        Vector256<float> cosPoly = Fma.MultiplyAdd(Vector256.Create(CosP0), z, Vector256.Create(CosP1));
        cosPoly = Fma.MultiplyAdd(cosPoly, z, Vector256.Create(CosP2));
        cosPoly = Avx.Multiply(cosPoly, z);
        cosPoly = Fma.MultiplySubtract(cosPoly, z, Avx.Multiply(z, Vector256.Create(0.5f)));
        cosPoly = Avx.Add(cosPoly, Vector256<float>.One);

        Vector256<float> sinPoly = Fma.MultiplyAdd(Vector256.Create(SinP0), z, Vector256.Create(SinP1));
        sinPoly = Fma.MultiplyAdd(sinPoly, z, Vector256.Create(SinP2));
        sinPoly = Avx.Multiply(sinPoly, z);
        sinPoly = Fma.MultiplyAdd(sinPoly, x, x);

        sine = Avx.Xor(Avx.BlendVariable(cosPoly, sinPoly, sinePolynomialIsSine), sineSign);
        cosine = Avx.Xor(Avx.BlendVariable(sinPoly, cosPoly, sinePolynomialIsSine), cosineSign);
    }
}
