using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Diffusion.Server.Tests;

public sealed class NativeJobsApiTests
{
    [Fact]
    public async Task A_job_is_accepted_then_its_images_are_served()
    {
        await using TestServer server = await TestServer.StartAsync();
        string id = await server.SubmitAsync(TestServer.ShortJob());
        JsonElement done = await server.WaitForAsync(id, "succeeded");
        string image = done.GetProperty("images")[0].GetString()!;
        byte[] png = await server.Client.GetByteArrayAsync(image, TestContext.Current.CancellationToken);
        Assert.Equal(64, Diffusion.Imaging.Skia.SkiaImageCodec.Decode(png).Width);
        Assert.Contains("Seed: 1", done.GetProperty("infotexts")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_step_cached_job_records_its_cache_in_the_infotext()
    {
        await using TestServer server = await TestServer.StartAsync();
        string id = await server.SubmitAsync(new { prompt = "a red circle", steps = 6, width = 64, height = 64, seed = 1, deepCache = "3:1" });
        JsonElement done = await server.WaitForAsync(id, "succeeded");
        string infotext = done.GetProperty("infotexts")[0].GetString()!;
        Assert.True(infotext.Contains("Step cache: \"3:1\"", StringComparison.Ordinal), infotext); // quoted, as infotext values with a colon are
    }

    [Fact]
    public async Task Server_sent_events_arrive_in_order_with_previews()
    {
        await using TestServer server = await TestServer.StartAsync();
        CancellationToken ct = TestContext.Current.CancellationToken;
        string blocker = await server.SubmitAsync(TestServer.LongJob());
        await server.WaitForAsync(blocker, "running");
        string id = await server.SubmitAsync(new { prompt = "a red circle", steps = 6, width = 64, height = 64 });

        // Subscribed while the job waits: every event from "queued" on.
        using var events = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/jobs/{id}/events");
        using HttpResponseMessage response = await server.Client.SendAsync(events, HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await server.Client.DeleteAsync($"/api/v1/jobs/{blocker}", ct);
        var received = new List<(string Kind, JsonElement Data)>();
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct)))
        {
            string? kind = null;
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                    kind = line["event: ".Length..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                    received.Add((kind!, JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone()));
            }
        }

        Assert.Equal(["queued", "started", "progress", "progress", "progress", "progress", "progress", "progress", "succeeded"], received.Select(e => e.Kind));
        Assert.Equal([1, 2, 3, 4, 5, 6], received.Where(e => e.Kind == "progress").Select(e => e.Data.GetProperty("step").GetInt32()));
        Assert.All(received.Where(e => e.Kind == "progress"), e => Assert.Equal(8, Diffusion.Imaging.Skia.SkiaImageCodec.Decode(Convert.FromBase64String(e.Data.GetProperty("preview").GetString()!)).Width));
        Assert.Single(received[^1].Data.GetProperty("images").EnumerateArray());
    }

    [Fact]
    public async Task Cancelling_works_for_a_queued_and_a_running_job()
    {
        await using TestServer server = await TestServer.StartAsync();
        CancellationToken ct = TestContext.Current.CancellationToken;
        string running = await server.SubmitAsync(TestServer.LongJob());
        await server.WaitForAsync(running, "running");
        string queued = await server.SubmitAsync(TestServer.ShortJob());

        Assert.Equal(HttpStatusCode.Accepted, (await server.Client.DeleteAsync($"/api/v1/jobs/{queued}", ct)).StatusCode);
        Assert.Equal("cancelled while queued", (await server.WaitForAsync(queued, "cancelled")).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.Accepted, (await server.Client.DeleteAsync($"/api/v1/jobs/{running}", ct)).StatusCode);
        JsonElement stopped = await server.WaitForAsync(running, "cancelled");
        Assert.InRange(stopped.GetProperty("step").GetInt32(), 0, 149);
        Assert.Equal(HttpStatusCode.Conflict, (await server.Client.DeleteAsync($"/api/v1/jobs/{running}", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.DeleteAsync("/api/v1/jobs/nope", ct)).StatusCode);

        // The worker goes on with the next job.
        await server.WaitForAsync(await server.SubmitAsync(TestServer.ShortJob()), "succeeded");
    }

    [Fact]
    public async Task A_higher_priority_job_overtakes_queued_ones()
    {
        await using TestServer server = await TestServer.StartAsync();
        string blocker = await server.SubmitAsync(TestServer.LongJob());
        await server.WaitForAsync(blocker, "running");
        string first = await server.SubmitAsync(TestServer.ShortJob(priority: 0, prompt: "first"));
        string second = await server.SubmitAsync(TestServer.ShortJob(priority: 0, prompt: "second"));
        string urgent = await server.SubmitAsync(TestServer.ShortJob(priority: 5, prompt: "urgent"));
        await server.Client.DeleteAsync($"/api/v1/jobs/{blocker}", TestContext.Current.CancellationToken);

        DateTimeOffset Started(JsonElement job) => job.GetProperty("started").GetDateTimeOffset();
        JsonElement a = await server.WaitForAsync(first, "succeeded"), b = await server.WaitForAsync(second, "succeeded"), u = await server.WaitForAsync(urgent, "succeeded");
        Assert.True(Started(u) < Started(a), "the priority-5 job started before the earlier priority-0 ones");
        Assert.True(Started(a) < Started(b), "equal priorities run in arrival order");
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.MaxQueueDepth = 1);
        CancellationToken ct = TestContext.Current.CancellationToken;
        string blocker = await server.SubmitAsync(TestServer.LongJob());
        await server.WaitForAsync(blocker, "running");
        await server.SubmitAsync(TestServer.ShortJob());

        HttpResponseMessage full = await server.Client.PostAsJsonAsync("/api/v1/jobs", TestServer.ShortJob(), ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, full.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(5), full.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.Client.GetAsync("/ready", ct)).StatusCode);
        await server.Client.DeleteAsync($"/api/v1/jobs/{blocker}", ct);
    }

    [Theory]
    [InlineData("""{"prompt": "x", "steps": 0}""", "steps")]
    [InlineData("""{"prompt": "x", "width": 100}""", "width")]
    [InlineData("""{"prompt": "x", "batch_size": 100, "batchSize": 100}""", "batch_size")]
    [InlineData("""{"prompt": "x", "initImage": "not base64!"}""", "init_image")]
    public async Task Bad_requests_are_400_naming_the_field(string body, string field)
    {
        await using TestServer server = await TestServer.StartAsync();
        HttpResponseMessage response = await server.Client.PostAsync("/api/v1/jobs", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using JsonDocument problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(field, problem.RootElement.GetProperty("field").GetString());
    }
}
