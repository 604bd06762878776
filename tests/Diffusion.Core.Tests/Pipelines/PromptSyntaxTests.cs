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
