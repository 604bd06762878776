using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Diffusion.Core.Imaging;
using Diffusion.Core.Metadata;
using Diffusion.Core.Pipelines;
using Diffusion.Imaging.Skia;
using Diffusion.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Server.Tests;

/// <summary>A1111's img2img with a mask: inpainting from the original image over the whole picture, the kept region pasted back.</summary>
public sealed class A1111InpaintingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Left half red, right half green.</summary>
    private static ImageBuffer Init()
    {
        var image = new ImageBuffer(64, 64);
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++)
                image.Pixels[(y * 64 + x) * 3 + (x < 32 ? 0 : 1)] = 200;
        return image;
    }

    /// <summary>White (repaint) on the right half of a <paramref name="size"/>² mask.</summary>
    private static ImageBuffer RightHalf(int size)
    {
        var mask = new ImageBuffer(size, size);
        for (int y = 0; y < size; y++)
            mask.Pixels.AsSpan((y * size + size / 2) * 3, size / 2 * 3).Fill(255);
        return mask;
    }

    private static string Base64(ImageBuffer image) => Convert.ToBase64String(SkiaImageCodec.Encode(image, SkiaSharp.SKEncodedImageFormat.Png));

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(TestServer server, object body)
    {
        HttpResponseMessage response = await server.Client.PostAsJsonAsync("/sdapi/v1/img2img", body, Ct);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return (response.StatusCode, json.RootElement.Clone());
    }

    private static bool SameColumns(ImageBuffer a, ImageBuffer b, int from, int to)
    {
        for (int y = 0; y < a.Height; y++)
            if (!a.Pixels.AsSpan((y * a.Width + from) * 3, (to - from) * 3).SequenceEqual(b.Pixels.AsSpan((y * b.Width + from) * 3, (to - from) * 3)))
                return false;
        return true;
    }

    [Fact]
    public async Task A_mask_repaints_its_white_part_keeps_the_rest_and_equals_the_library_s_inpainting()
    {
        await using TestServer server = await TestServer.StartAsync();
        ImageBuffer init = Init();
        (HttpStatusCode status, JsonElement body) = await PostAsync(server, new
        {
            prompt = "a blue square", init_images = new[] { Base64(init) }, mask = Base64(RightHalf(64)), mask_blur = 0,
            inpainting_fill = 1, inpaint_full_res = false, denoising_strength = 0.9, steps = 4, seed = 5, cfg_scale = 7,
        });
        Assert.Equal(HttpStatusCode.OK, status);
        byte[] png = Convert.FromBase64String(body.GetProperty("images")[0].GetString()!);
        ImageBuffer served = SkiaImageCodec.Decode(png);

        Assert.True(SameColumns(served, init, 0, 32), "the kept (black) half changed");
        Assert.False(SameColumns(served, init, 32, 64), "the repainted (white) half is unchanged");
        GenerationParameters settings = GenerationParameters.Parse(PngTextChunk.Read(png, "parameters")!);
        Assert.Equal(0, settings.GetInteger("Mask blur"));
        Assert.Equal(0.9, settings.GetNumber("Denoising strength"));

        // The same inpainting through the library on the server's own pipeline gives the same pixels.
        var pipeline = server.App.Services.GetRequiredService<PipelineHost>().Pipeline;
        GenerationResult direct = pipeline.Generate(new GenerationOptions
        {
            Prompt = "a blue square", Steps = 4, Seed = 5, GuidanceScale = 7, InitImage = init, Strength = 0.9,
            Mask = RightHalf(64), PreserveUnmaskedPixels = true, Width = 64, Height = 64,
        }, cancellationToken: Ct);
        Assert.Equal(direct.Images[0].Pixels, served.Pixels);
    }

    [Fact]
    public async Task An_inverted_or_smaller_mask_repaints_the_other_half()
    {
        await using TestServer server = await TestServer.StartAsync();
        ImageBuffer init = Init();
        (HttpStatusCode status, JsonElement body) = await PostAsync(server, new
        {
            prompt = "a blue square", init_images = new[] { Base64(init) }, mask = Base64(RightHalf(32)), inpainting_mask_invert = 1,
            mask_blur = 0, steps = 4, seed = 5,
        });
        Assert.Equal(HttpStatusCode.OK, status);
        ImageBuffer served = SkiaImageCodec.Decode(Convert.FromBase64String(body.GetProperty("images")[0].GetString()!));
        Assert.Equal(64, served.Width);
        Assert.True(SameColumns(served, init, 33, 64), "the kept (now right) half changed");
        Assert.False(SameColumns(served, init, 0, 31), "the repainted (now left) half is unchanged");
    }

    [Theory]
    [InlineData("""{"inpainting_fill": 0}""", "inpainting_fill")]
    [InlineData("""{"inpainting_fill": 2}""", "inpainting_fill")]
    [InlineData("""{"inpaint_full_res": true}""", "inpaint_full_res")]
    [InlineData("""{"inpaint_full_res": 1}""", "inpaint_full_res")]
    [InlineData("""{"inpainting_mask_invert": 2}""", "inpainting_mask_invert")]
    [InlineData("""{"mask": "not base64!"}""", "mask")]
    [InlineData("""{"mask_blur": 300}""", "mask_blur")]
    public async Task Inpainting_options_this_server_does_not_run_are_refused_by_name(string extra, string field)
    {
        await using TestServer server = await TestServer.StartAsync();
        var body = new Dictionary<string, object?>
        {
            ["prompt"] = "x", ["init_images"] = new[] { Base64(Init()) }, ["mask"] = Base64(RightHalf(64)), ["steps"] = 2,
        };
        foreach (JsonProperty property in JsonDocument.Parse(extra).RootElement.EnumerateObject())
            body[property.Name] = property.Value.Clone();
        (HttpStatusCode status, JsonElement answer) = await PostAsync(server, body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(field, answer.GetProperty("field").GetString());
    }

    [Fact]
    public async Task A_mask_without_an_image_to_repaint_is_refused_by_both_apis()
    {
        await using TestServer server = await TestServer.StartAsync();
        HttpResponseMessage a1111 = await server.Client.PostAsJsonAsync("/sdapi/v1/txt2img", new { prompt = "x", mask = Base64(RightHalf(64)) }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, a1111.StatusCode);
        Assert.Contains("\"mask\"", await a1111.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        HttpResponseMessage native = await server.Client.PostAsJsonAsync("/api/v1/jobs", new { prompt = "x", mask = Base64(RightHalf(64)) }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, native.StatusCode);
        Assert.Contains("\"mask\"", await native.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }
}
