using CsCheck;

namespace Diffusion.Hub.Tests;

public sealed class ModelSourceTests
{
    [Theory]
    [InlineData("hf:stabilityai/sdxl-turbo", "stabilityai/sdxl-turbo", "main", null)]
    [InlineData("hf:owner/name@fp16", "owner/name", "fp16", null)]
    [InlineData("hf:owner/name@refs/pr/1:unet", "owner/name", "refs/pr/1", "unet")]
    [InlineData("hf:owner/name:text_encoder_2/", "owner/name", "main", "text_encoder_2")]
    [InlineData("hf:Org.Name/model_v1.5@0123456789abcdef0123456789abcdef01234567", "Org.Name/model_v1.5", "0123456789abcdef0123456789abcdef01234567", null)]
    public void Hub_sources_are_read(string text, string repository, string revision, string? subfolder)
    {
        var source = Assert.IsType<HuggingFaceSource>(ModelSource.Parse(text));
        Assert.Equal(repository, source.Repository);
        Assert.Equal(revision, source.Revision);
        Assert.Equal(subfolder, source.Subfolder);
        Assert.Equal(source, ModelSource.Parse(source.ToString()));
    }

    [Fact]
    public void Civitai_and_url_sources_are_read()
    {
        Assert.Equal(new CivitaiSource(128713), ModelSource.Parse("civitai:128713"));
        var url = Assert.IsType<UrlSource>(ModelSource.Parse("https://example.com/models/v1-5%20pruned.safetensors?download=true"));
        Assert.Equal("v1-5 pruned.safetensors", url.FileName);
        Assert.Equal("download", Assert.IsType<UrlSource>(ModelSource.Parse("https://example.com/")).FileName);
        Assert.IsType<UrlSource>(ModelSource.Parse("http://127.0.0.1:8080/a.safetensors"));
    }

    [Theory]
    [InlineData("", "1 to 2048")]
    [InlineData("stabilityai/sdxl", "hf:owner/name")]
    [InlineData("hf:justname", "owner/name")]
    [InlineData("hf:owner/name/extra", "owner/name")]
    [InlineData("hf:../etc/passwd", "owner/name")]
    [InlineData("hf:owner--x/name", "owner/name")]
    [InlineData("hf:owner/name:../../secret", "relative path")]
    [InlineData("hf:owner/name:/abs", "relative path")]
    [InlineData("hf:owner/name@", "revision")]
    [InlineData("hf:owner/name@../../x", "revision")]
    [InlineData("civitai:abc", "MODEL_VERSION_ID")]
    [InlineData("civitai:0", "MODEL_VERSION_ID")]
    [InlineData("civitai:-5", "MODEL_VERSION_ID")]
    [InlineData("http://example.com/model.safetensors", "plain http is refused")]
    [InlineData("https://user:pass@example.com/model.safetensors", "password")]
    [InlineData("ftp://example.com/x", "not a model source")]
    public void Bad_sources_are_refused_naming_the_problem(string text, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => ModelSource.Parse(text));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Any_text_parses_or_is_refused_with_an_argument_error()
    {
        Gen.String.Select(Gen.OneOf(Gen.Const("hf:"), Gen.Const("civitai:"), Gen.Const("https://"), Gen.Const("")), (body, prefix) => prefix + body).Sample(text =>
        {
            try
            {
                ModelSource source = ModelSource.Parse(text);
                if (source is HuggingFaceSource hub)
                {
                    Assert.DoesNotContain("..", hub.Repository, StringComparison.Ordinal);
                    Assert.True(hub.Subfolder is null || HuggingFaceSource.SafeRelativePath(hub.Subfolder));
                }
            }
            catch (ArgumentException)
            {
            }
        }, iter: 5000);
    }
}
