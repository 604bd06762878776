using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>GenerationOptions.ClipSkip reaches the PromptEmbedder (the embedder's own behaviour: TextEncoding/ClipSkipTests).</summary>
public sealed class ClipSkipOptionTests
{
    [Fact]
    public void ClipSkipBelowOneFailsValidation()
    {
        var error = Assert.Throws<InvalidOptionException>((TinySd.SmallOptions() with { ClipSkip = 0 }).Validate);

        Assert.Equal("ClipSkip", error.OptionName);
    }

    [Fact]
    public void ClipSkipTwoOnAnEncoderWithoutHiddenStatesIsAnInvalidOption()
    {
        // tiny-sd's text encoder has only last_hidden_state and pooler_output, so the option must reach the embedder to fail.
        using var pipeline = TinySd.Load();

        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(TinySd.SmallOptions() with { ClipSkip = 2 }));

        Assert.Equal("ClipSkip", error.OptionName);
        Assert.Contains("hidden_states", error.Message, StringComparison.Ordinal);
    }
}
