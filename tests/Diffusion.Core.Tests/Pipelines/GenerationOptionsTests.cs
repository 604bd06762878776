using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>GenerationOptions.Validate: each bad value is refused naming its option, before any model runs.</summary>
public sealed class GenerationOptionsTests
{
    [Theory]
    [InlineData(1e30f)]
    [InlineData(100.5f)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NaN)]
    [InlineData(-0.5f)]
    public void Guidance_outside_zero_to_the_maximum_is_refused(float guidance)
    {
        var error = Assert.Throws<InvalidOptionException>(() => new GenerationOptions { GuidanceScale = guidance }.Validate());
        Assert.Equal(nameof(GenerationOptions.GuidanceScale), error.OptionName);
        Assert.Contains("between 0 and 100", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    [InlineData(30f)]
    [InlineData(GenerationOptions.MaxGuidanceScale)]
    public void Guidance_from_zero_to_the_maximum_is_accepted(float guidance)
        => new GenerationOptions { GuidanceScale = guidance }.Validate();
}
