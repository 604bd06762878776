using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Diffusion.Server.Tests;

public sealed class ServerOperationTests
{
    [Fact]
    public async Task An_api_key_when_configured_is_required_except_for_health()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.ApiKeys.Add("secret-key"));
        CancellationToken ct = TestContext.Current.CancellationToken;
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/ready", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.PostAsJsonAsync("/api/v1/jobs", TestServer.ShortJob(), ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.GetAsync("/sdapi/v1/samplers", ct)).StatusCode);

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/sdapi/v1/samplers");
        wrong.Headers.Add("X-Api-Key", "secret-kex");
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.SendAsync(wrong, ct)).StatusCode);
        using var right = new HttpRequestMessage(HttpMethod.Get, "/sdapi/v1/samplers");
        right.Headers.Add("X-Api-Key", "secret-key");
        Assert.Equal(HttpStatusCode.OK, (await server.Client.SendAsync(right, ct)).StatusCode);
        server.Client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "secret-key");
        Assert.Equal(HttpStatusCode.Accepted, (await server.Client.PostAsJsonAsync("/api/v1/jobs", TestServer.ShortJob(), ct)).StatusCode);
    }

    [Fact]
    public async Task A_graceful_shutdown_finishes_the_running_job_and_hands_back_the_queued_ones()
    {
        TestServer server = await TestServer.StartAsync();
        CancellationToken ct = TestContext.Current.CancellationToken;
        string running = await server.SubmitAsync(new { prompt = "finishing", steps = 40, width = 256, height = 256 });
        await server.WaitForAsync(running, "running");
        string queued = await server.SubmitAsync(TestServer.ShortJob());
        var store = (Jobs.JobStore)server.App.Services.GetService(typeof(Jobs.JobStore))!;

        await server.App.StopAsync(ct);

        Assert.Equal(Jobs.JobState.Succeeded, store.Find(running)!.State);
        Assert.Equal(Jobs.JobState.Cancelled, store.Find(queued)!.State);
        Assert.Equal(Hosting.GenerationWorker.ShutdownReason, store.Find(queued)!.Error);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Queue_depth_job_latency_and_step_time_are_exported()
    {
        await using TestServer server = await TestServer.StartAsync();
        await server.WaitForAsync(await server.SubmitAsync(TestServer.ShortJob()), "succeeded");
        server.FlushMetrics();
        var names = server.Metrics.Select(m => m.Name).ToHashSet();
        Assert.Contains("diffusion.queue.depth", names);
        Assert.Contains("diffusion.job.latency", names);
        Assert.Contains("diffusion.step.time", names);
        Assert.Contains("diffusion.jobs", names);
    }

    [Fact]
    public async Task The_openapi_document_lists_every_api()
    {
        await using TestServer server = await TestServer.StartAsync();
        using JsonDocument document = JsonDocument.Parse(await server.Client.GetStringAsync("/openapi/v1.json", TestContext.Current.CancellationToken));
        var paths = document.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        foreach (string path in new[] { "/api/v1/jobs", "/api/v1/jobs/{id}/events", "/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/v1/images/generations", "/health" })
            Assert.Contains(path, paths);
    }
}
