using System.Net;
using System.Text;
using System.Text.Json;

namespace Diffusion.Server.Tests;

/// <summary>
/// Requests no worker could run are answered before they are queued: wrong JSON types, values over the limits, an
/// unknown sampler or model, images over the size limit and bodies over the request limit each get a 4xx JSON error
/// naming the field, in each API's own error shape.
/// </summary>
public sealed class BadRequestTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(TestServer server, string path, string json)
    {
        HttpResponseMessage response = await server.Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), Ct);
        string text = await response.Content.ReadAsStringAsync(Ct);
        Assert.False(string.IsNullOrEmpty(text), $"{(int)response.StatusCode} with an empty body");
        using JsonDocument document = JsonDocument.Parse(text);
        return (response.StatusCode, document.RootElement.Clone());
    }

    [Theory]
    [InlineData("/api/v1/jobs", """{"prompt": "x", "steps": "many"}""", "steps")]
    [InlineData("/api/v1/jobs", """{"prompt": "x", "width": 64.5}""", "width")]
    [InlineData("/api/v1/jobs", """{"prompt": "x", "sampler": "Euler b"}""", "sampler_name")]
    [InlineData("/api/v1/jobs", """{"prompt": ["x"]}""", "prompt")]
    [InlineData("/api/v1/jobs", """{"prompt": "x", "deepCache": "0"}""", "deep_cache")]
    [InlineData("/sdapi/v1/txt2img", """{"prompt": "x", "steps": "many"}""", "steps")]
    [InlineData("/sdapi/v1/txt2img", """{"prompt": "x", "sampler_name": "Euler b"}""", "sampler_name")]
    [InlineData("/sdapi/v1/txt2img", """{"prompt": "x", "sampler_name": "Euler", "scheduler": "Fancy"}""", "sampler_name")]
    [InlineData("/sdapi/v1/txt2img", """{"prompt": "x", "steps": 1000}""", "steps")]
    [InlineData("/sdapi/v1/img2img", """{"prompt": "x", "init_images": [5]}""", "init_images")]
    public async Task Problem_details_name_the_field(string path, string json, string field)
    {
        await using TestServer server = await TestServer.StartAsync();
        (HttpStatusCode status, JsonElement body) = await PostAsync(server, path, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(field, body.GetProperty("field").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("detail").GetString()));
    }

    [Theory]
    [InlineData("""{"prompt": "x", "model": "dall-e-3"}""", "model")]
    [InlineData("""{"prompt": "x", "n": "two"}""", "n")]
    [InlineData("""{"prompt": "x", "n": 100}""", "n")]
    [InlineData("""{"prompt": "x", "size": "60x64"}""", "size")]
    public async Task OpenAI_errors_name_the_param(string json, string param)
    {
        await using TestServer server = await TestServer.StartAsync();
        (HttpStatusCode status, JsonElement body) = await PostAsync(server, "/v1/images/generations", json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task A_50_MB_base64_image_is_refused_by_name_and_a_body_over_the_limit_is_413()
    {
        await using TestServer server = await TestServer.StartAsync();
        string image = Convert.ToBase64String(new byte[37_500_000]); // 50 MB of base64
        (HttpStatusCode status, JsonElement body) = await PostAsync(server, "/sdapi/v1/img2img", $$"""{"prompt": "x", "init_images": ["{{image}}"]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("init_images", body.GetProperty("field").GetString());

        // 100 MB: over two images' worth. With Expect: 100-continue the client waits for the answer instead of sending
        // a body the server will not read (without it, the server answers and closes while the client still writes).
        string twice = $$"""{"prompt": "x", "init_images": ["{{image}}"], "mask": "{{image}}"}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/sdapi/v1/img2img") { Content = new StringContent(twice, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        HttpResponseMessage response = await server.Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        using JsonDocument problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Contains("request body is over", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
