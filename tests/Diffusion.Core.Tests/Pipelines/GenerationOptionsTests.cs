using CsCheck;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;
using Diffusion.Core.TextEncoding;

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

    [Fact]
    public void Validate_accepts_exactly_the_documented_ranges_and_throws_nothing_but_InvalidOptionException()
    {
        Gen<GenerationOptions> options =
            from steps in Gen.Int[-5, 1100]
            from guidance in Gen.OneOf(Gen.Const((float?)null), Gen.Float.Select(g => (float?)g), Gen.Float[-1f, 120f].Select(g => (float?)g))
            from width in Gen.OneOf(Gen.Const((int?)null), Gen.Int[-16, 8300].Select(w => (int?)w))
            from count in Gen.Int[-1, 70]
            from clipSkip in Gen.Int[-1, 4]
            from strength in Gen.OneOf(Gen.Const((double?)null), Gen.Double.Select(d => (double?)d))
            from random in Gen.Int[-1, 3]
            from syntax in Gen.Int[-1, 2]
            select new GenerationOptions
            {
                Steps = steps, GuidanceScale = guidance, Width = width, ImagesPerPrompt = count, ClipSkip = clipSkip,
                Strength = strength, RandomSource = (RandomSourceKind)random, PromptSyntax = (PromptSyntax)syntax,
                InitImage = strength is null ? null : new Diffusion.Core.Imaging.ImageBuffer(8, 8),
            };
        options.Sample(o =>
        {
            bool valid = o.Steps is >= 1 and <= 1000
                && (o.GuidanceScale is not float g || (float.IsFinite(g) && g >= 0 && g <= GenerationOptions.MaxGuidanceScale))
                && (o.Width is null || (o.Width > 0 && o.Width % 8 == 0 && o.Width <= 8192))
                && o.ImagesPerPrompt is >= 1 and <= 64 && o.ClipSkip >= 1
                && (o.Strength is null || (double.IsFinite(o.Strength.Value) && o.Strength >= 0 && o.Strength <= 1))
                && Enum.IsDefined(o.RandomSource) && Enum.IsDefined(o.PromptSyntax);
            try
            {
                o.Validate();
                return valid;
            }
            catch (InvalidOptionException)
            {
                return !valid;
            }
        }, iter: 5000);
    }
}
