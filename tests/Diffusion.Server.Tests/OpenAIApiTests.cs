using System.ClientModel;
using Diffusion.Imaging.Skia;
using OpenAI;
using OpenAI.Images;

namespace Diffusion.Server.Tests;

public sealed class OpenAIApiTests
{
    [Fact]
    public async Task The_official_openai_client_gets_an_image_as_bytes_and_as_a_url()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.ApiKeys.Add("sk-test"));
        var client = new ImageClient("demo-shapes", new ApiKeyCredential("sk-test"), new OpenAIClientOptions { Endpoint = new Uri(server.Address, "/v1") });

        GeneratedImage bytes = (await client.GenerateImageAsync("a red circle on blue",
            new ImageGenerationOptions { Size = new GeneratedImageSize(64, 64), ResponseFormat = GeneratedImageFormat.Bytes },
            TestContext.Current.CancellationToken)).Value;
        Assert.Equal(64, SkiaImageCodec.Decode(bytes.ImageBytes.ToArray()).Width);

        GeneratedImage link = (await client.GenerateImageAsync("a red circle on blue",
            new ImageGenerationOptions { Size = new GeneratedImageSize(64, 64), ResponseFormat = GeneratedImageFormat.Uri },
            TestContext.Current.CancellationToken)).Value;
        server.Client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk-test");
        byte[] png = await server.Client.GetByteArrayAsync(link.ImageUri, TestContext.Current.CancellationToken);
        Assert.Equal(64, SkiaImageCodec.Decode(png).Height);
    }

    [Fact]
    public async Task A_bad_size_is_an_openai_style_error()
    {
        await using TestServer server = await TestServer.StartAsync();
        var client = new ImageClient("demo-shapes", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Address, "/v1") });
        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.GenerateImageAsync("x",
            new ImageGenerationOptions { Size = new GeneratedImageSize(60, 64) }, TestContext.Current.CancellationToken));
        Assert.Equal(400, error.Status);
    }
}
