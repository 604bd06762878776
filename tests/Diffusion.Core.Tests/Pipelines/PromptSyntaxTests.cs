using Diffusion.Core.Pipelines;
using Diffusion.Core.TextEncoding;

namespace Diffusion.Core.Tests.Pipelines;

public sealed class PromptSyntaxTests
{
    [Fact]
    public void WeightedSyntaxWithoutMarkupEqualsPlain()
    {
        // PromptEmbedder: a prompt with no syntax and at most 75 tokens gives exactly the Plain embeddings.
        using var pipeline = TinySd.Load();
        float[] plain = pipeline.Generate(TinySd.SmallOptions()).Latents;
        float[] weighted = pipeline.Generate(TinySd.SmallOptions() with { PromptSyntax = PromptSyntax.Weighted }).Latents;

        Assert.Equal(plain, weighted);
    }

    [Fact]
    public void Weights_that_overflow_the_embedding_are_refused_naming_the_prompt_not_the_unet()
    {
        // float32's largest value written out is a weight the parser accepts, but it overflows any hidden state above 1
        // (the web UI encodes NaN then, and the UNet reported it as a float16 overflow).
        using var pipeline = TinySd.Load();
        string huge = "340282346638528859811704183484516925440";
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(TinySd.SmallOptions() with
        {
            Prompt = $"a photo of a (cat:{huge})",
            PromptSyntax = PromptSyntax.Weighted,
        }));

        Assert.Equal("prompt", error.OptionName);
        Assert.Contains("overflow", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_steps_for_a_steps_offset_config_name_Steps()
    {
        // tiny-sd's PNDM config: leading spacing, steps_offset 1; 1000 steps reach timestep 1000.
        using var pipeline = TinySd.Load();
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(TinySd.SmallOptions() with { Steps = 1000, Scheduler = null }));

        Assert.Equal(nameof(GenerationOptions.Steps), error.OptionName);
        Assert.Contains("steps_offset 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("use fewer steps", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WeightsChangeTheImageOnlyWithWeightedSyntax()
    {
        using var pipeline = TinySd.Load();
        GenerationOptions options = TinySd.SmallOptions() with { Prompt = "a photo of a (cat:1.5)" };

        float[] plain = pipeline.Generate(options).Latents;
        float[] weighted = pipeline.Generate(options with { PromptSyntax = PromptSyntax.Weighted }).Latents;

        Assert.NotEqual(plain, weighted);
    }

    [Fact]
    public void WeightedSyntaxTakesPromptsLongerThanOneWindow()
    {
        using var pipeline = TinySd.Load();
        string longPrompt = string.Join(", ", Enumerable.Repeat("a red cat on a blue mat", 20)); // ≈ 140 tokens

        GenerationResult plain = pipeline.Generate(TinySd.SmallOptions() with { Prompt = longPrompt });
        GenerationResult weighted = pipeline.Generate(TinySd.SmallOptions() with { Prompt = longPrompt, PromptSyntax = PromptSyntax.Weighted });

        Assert.True(plain.PromptTruncated);
        Assert.False(weighted.PromptTruncated);
        ImageAssert.SingleImage(weighted, 64, 64);
    }
}
