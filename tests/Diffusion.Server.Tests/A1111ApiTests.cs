using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Diffusion.Core.Metadata;
using Diffusion.Imaging.Skia;

namespace Diffusion.Server.Tests;

public sealed class A1111ApiTests
{
    [Fact]
    public async Task Txt2img_with_the_documented_json_returns_a_png_with_its_infotext()
    {
        await using TestServer server = await TestServer.StartAsync();
        // The body A1111's API documentation shows for /sdapi/v1/txt2img (fields this server does not use are accepted and ignored).
        const string body = """
            {"prompt": "a red circle", "negative_prompt": "blurry", "styles": [], "seed": 1234, "subseed": -1, "subseed_strength": 0,
             "sampler_name": "Euler a", "scheduler": "Automatic", "batch_size": 2, "n_iter": 1, "steps": 4, "cfg_scale": 7,
             "width": 64, "height": 64, "restore_faces": false, "tiling": false, "do_not_save_samples": true,
             "do_not_save_grid": true, "send_images": true, "save_images": false, "override_settings": {}}
            """;
        HttpResponseMessage response = await server.Client.PostAsync("/sdapi/v1/txt2img", new StringContent(body, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        string[] images = [.. json.RootElement.GetProperty("images").EnumerateArray().Select(i => i.GetString()!)];
        Assert.Equal(2, images.Length);
        byte[] png = Convert.FromBase64String(images[1]);
        Assert.Equal(64, SkiaImageCodec.Decode(png).Width);
        GenerationParameters settings = GenerationParameters.Parse(PngTextChunk.Read(png, "parameters")!);
        Assert.Equal("a red circle", settings.Prompt);
        Assert.Equal("Euler a", settings["Sampler"]);
        Assert.Equal(1234UL, settings.GetUnsigned("Seed"));
        using JsonDocument info = JsonDocument.Parse(json.RootElement.GetProperty("info").GetString()!);
        Assert.Equal(1234, info.RootElement.GetProperty("seed").GetInt64());
        Assert.Equal(2, info.RootElement.GetProperty("infotexts").GetArrayLength());
        Assert.Equal("a red circle", json.RootElement.GetProperty("parameters").GetProperty("prompt").GetString());
    }

    [Fact]
    public async Task Img2img_repaints_the_init_image_with_the_strength()
    {
        await using TestServer server = await TestServer.StartAsync();
        var start = new Core.Imaging.ImageBuffer(64, 64);
        start.Pixels.AsSpan().Fill(200);
        string init = Convert.ToBase64String(SkiaImageCodec.Encode(start, SkiaSharp.SKEncodedImageFormat.Png));
        HttpResponseMessage response = await server.Client.PostAsJsonAsync("/sdapi/v1/img2img",
            new { prompt = "a blue square", init_images = new[] { "data:image/png;base64," + init }, denoising_strength = 0.5, steps = 4, seed = 2 },
            TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        byte[] png = Convert.FromBase64String(json.RootElement.GetProperty("images")[0].GetString()!);
        Assert.Equal(0.5, GenerationParameters.Parse(PngTextChunk.Read(png, "parameters")!).GetNumber("Denoising strength"));
    }

    [Fact]
    public async Task The_listing_endpoints_answer_in_a1111_s_shapes()
    {
        await using TestServer server = await TestServer.StartAsync();
        CancellationToken ct = TestContext.Current.CancellationToken;
        using JsonDocument samplers = JsonDocument.Parse(await server.Client.GetStringAsync("/sdapi/v1/samplers", ct));
        Assert.Contains(samplers.RootElement.EnumerateArray(), s => s.GetProperty("name").GetString() == "DPM++ 2M Karras");
        using JsonDocument models = JsonDocument.Parse(await server.Client.GetStringAsync("/sdapi/v1/sd-models", ct));
        Assert.Equal("demo-shapes", models.RootElement[0].GetProperty("model_name").GetString());
        using JsonDocument options = JsonDocument.Parse(await server.Client.GetStringAsync("/sdapi/v1/options", ct));
        Assert.Equal("demo-shapes", options.RootElement.GetProperty("sd_model_checkpoint").GetString());
        using JsonDocument progress = JsonDocument.Parse(await server.Client.GetStringAsync("/sdapi/v1/progress", ct));
        Assert.Equal(0, progress.RootElement.GetProperty("state").GetProperty("job_count").GetInt32());
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(await server.Client.GetStringAsync("/sdapi/v1/loras", ct)).RootElement.ValueKind);
        HttpResponseMessage other = await server.Client.PostAsJsonAsync("/sdapi/v1/options", new { sd_model_checkpoint = "another-model" }, ct);
        Assert.Equal(HttpStatusCode.BadRequest, other.StatusCode);
    }

    [Fact]
    public async Task Interrupt_stops_the_running_job_and_progress_shows_it_while_it_runs()
    {
        await using TestServer server = await TestServer.StartAsync();
        CancellationToken ct = TestContext.Current.CancellationToken;
        Task<HttpResponseMessage> running = server.Client.PostAsJsonAsync("/sdapi/v1/txt2img", new { prompt = "long", steps = 150, width = 256, height = 256 }, ct);
        JsonElement state;
        do
        {
            await Task.Delay(20, ct);
            state = JsonDocument.Parse(await server.Client.GetStringAsync("/sdapi/v1/progress", ct)).RootElement.Clone();
        }
        while (state.GetProperty("state").GetProperty("sampling_step").GetInt32() < 2);
        Assert.InRange(state.GetProperty("progress").GetDouble(), 0.001, 1);
        Assert.NotEqual(JsonValueKind.Null, state.GetProperty("current_image").ValueKind);

        await server.Client.PostAsync("/sdapi/v1/interrupt", null, ct);

        HttpResponseMessage response = await running;
        Assert.Equal(499, (int)response.StatusCode);
    }

    [Fact]
    public async Task Out_of_range_values_are_400_naming_the_field()
    {
        await using TestServer server = await TestServer.StartAsync();
        HttpResponseMessage response = await server.Client.PostAsJsonAsync("/sdapi/v1/txt2img", new { prompt = "x", steps = 0 }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("steps", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }
}
