using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Tensors;

public sealed class Float16ConversionTests
{
    [Theory]
    // Expected values: numpy float(np.float16(x)) (IEEE binary16, round to nearest, ties to even — what torch's .half() does).
    [InlineData(0.1f, 0.0999755859375f)]
    [InlineData(1f / 3f, 0.333251953125f)]
    [InlineData(65504f, 65504f)]
    [InlineData(65520f, float.PositiveInfinity)]
    [InlineData(1e-8f, 0f)]
    [InlineData(6e-8f, 5.960464477539063e-08f)]
    [InlineData(-2.5f, -2.5f)]
    [InlineData(1.00048828125f, 1f)]            // 1 + 2^-11: a tie, rounds to the even 1.0
    [InlineData(1.00146484375f, 1.001953125f)]  // 1 + 3·2^-11: a tie, rounds to the even 1 + 2^-9
    public void RoundTripRoundsLikeNumpyFloat16(float value, float expected)
    {
        Span<Float16> half = stackalloc Float16[1];
        Span<float> back = stackalloc float[1];

        Float16Conversion.ToFloat16([value], half);
        Float16Conversion.ToSingle(half, back);

        Assert.Equal(expected, back[0]);
    }

    [Fact]
    public void OnnxRuntimeFloat16AgreesWithTheConvertedBits()
    {
        Span<Float16> half = stackalloc Float16[1];

        Float16Conversion.ToFloat16([1.5f], half);

        Assert.Equal(0x3E00, half[0].value); // binary16 1.5
        Assert.Equal(1.5f, (float)half[0]);
    }

    [Fact]
    public void LengthMismatchIsRejected()
    {
        Assert.Throws<ArgumentException>(() => Float16Conversion.ToFloat16(new float[3], new Float16[2]));
    }
}
