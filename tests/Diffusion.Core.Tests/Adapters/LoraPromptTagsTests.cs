using Diffusion.Core.Adapters;

namespace Diffusion.Core.Tests.Adapters;

public class LoraPromptTagsTests
{
    [Fact]
    public void TagsAreRemovedAndReturnedInOrder()
    {
        // A1111 replaces each tag by "", leaving the surrounding text as it was.
        string prompt = LoraPromptTags.Extract("a cat <lora:catStyle:0.8>, sitting <lora:light v2:-0.25>", out var tags);

        Assert.Equal("a cat , sitting ", prompt);
        Assert.Equal([("catStyle", 0.8f), ("light v2", -0.25f)], tags);
    }

    [Fact]
    public void AMissingMultiplierIsOneAndExtraArgumentsAreIgnored()
    {
        LoraPromptTags.Extract("<lora:a><lora:b:0.5:0.2><lyco:c:2>", out var tags);

        Assert.Equal([("a", 1f), ("b", 0.5f), ("c", 2f)], tags);
    }

    [Fact]
    public void OtherExtraNetworkTagsStayInThePrompt()
    {
        string prompt = LoraPromptTags.Extract("x <hypernet:h:1> <lora:l:1>", out var tags);

        Assert.Equal("x <hypernet:h:1> ", prompt);
        Assert.Single(tags);
    }

    [Fact]
    public void AMultiplierThatIsNotANumberIsAnInvalidOption()
    {
        var error = Assert.Throws<InvalidOptionException>(() => LoraPromptTags.Extract("<lora:a:strong>", out _));

        Assert.Equal("prompt", error.OptionName);
    }

    [Fact]
    public void NamesResolveToSafetensorsInTheFolder()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "TestData", "lora");

        Assert.Equal(Path.Combine(folder, "unet_kohya.safetensors"), LoraPromptTags.ResolvePath(folder, "unet_kohya"));
        Assert.Throws<WeightFileException>(() => LoraPromptTags.ResolvePath(folder, "no_such_lora"));
    }

    [Theory]
    [InlineData("../secrets")]
    [InlineData("sub/name")]
    [InlineData("..")]
    public void NamesCannotLeaveTheFolder(string name)
    {
        Assert.Throws<InvalidOptionException>(() => LoraPromptTags.ResolvePath(AppContext.BaseDirectory, name));
    }
}
