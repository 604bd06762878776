using Diffusion.Core.Tensors;

namespace Diffusion.Core.Tests.Tensors;

public sealed class TensorShapeTests
{
    [Fact]
    public void ElementCountMultipliesTheDimensionsAndIsOneForAScalar()
    {
        Assert.Equal(2 * 4 * 64 * 64, TensorShape.ElementCount([2, 4, 64, 64]));
        Assert.Equal(1, TensorShape.ElementCount([]));
    }

    [Fact]
    public void ElementCountRejectsOverflowAndNegativeDimensions()
    {
        Assert.Throws<OverflowException>(() => TensorShape.ElementCount([65536, 65536]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorShape.ElementCount([2, -1]));
    }

    [Fact]
    public void RequireLengthNamesTheTensorAndTheShape()
    {
        var error = Assert.Throws<ArgumentException>(() => TensorShape.RequireLength(10, [2, 4], "sample", "sample"));

        Assert.Contains("'sample'", error.Message, StringComparison.Ordinal);
        Assert.Contains("[2,4]", error.Message, StringComparison.Ordinal);
        Assert.Equal("sample", error.ParamName);
    }
}
