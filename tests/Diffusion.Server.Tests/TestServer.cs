using System.Net.Http.Json;
using System.Text.Json;
using Diffusion.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace Diffusion.Server.Tests;

/// <summary>The server on a free loopback port with the repository's demo model, and an HttpClient for it.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private TestServer(WebApplication app, Uri address, List<Metric> metrics)
    {
        App = app;
        Address = address;
        Metrics = metrics;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
    }

    public WebApplication App { get; }
    public Uri Address { get; }
    public HttpClient Client { get; }
    /// <summary>What the OpenTelemetry in-memory exporter collected (after <see cref="FlushMetrics"/>).</summary>
    public List<Metric> Metrics { get; }

    public static async Task<TestServer> StartAsync(Action<ServerOptions>? configure = null)
    {
        string demo = Path.Combine(SharedData.RepositoryRoot()!.FullName, "models", "demo-shapes");
        var metrics = new List<Metric>();
        WebApplication app = DiffusionServer.Build(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning"], options =>
        {
            options.Model = demo;
            options.Threads = 1;
            configure?.Invoke(options);
        }, m => m.AddInMemoryExporter(metrics));
        await app.StartAsync(TestContext.Current.CancellationToken);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestServer(app, new Uri(address), metrics);
    }

    public void FlushMetrics() => App.Services.GetRequiredService<MeterProvider>().ForceFlush();

    /// <summary>POSTs a native job and returns its id.</summary>
    public async Task<string> SubmitAsync(object body)
    {
        HttpResponseMessage response = await Client.PostAsJsonAsync("/api/v1/jobs", body, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        return json.RootElement.GetProperty("id").GetString()!;
    }

    public async Task<JsonElement> StatusAsync(string id)
    {
        string text = await Client.GetStringAsync($"/api/v1/jobs/{id}", TestContext.Current.CancellationToken);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Waits until the job's state is one of <paramref name="states"/> (at most a minute).</summary>
    public async Task<JsonElement> WaitForAsync(string id, params string[] states)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            JsonElement status = await StatusAsync(id);
            if (states.Contains(status.GetProperty("state").GetString()))
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"job {id} stayed {status.GetProperty("state").GetString()}.");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>A job that keeps the worker busy for seconds (256², many steps) until cancelled.</summary>
    public static object LongJob(int priority = 0) => new { prompt = "a long job", steps = 150, width = 256, height = 256, priority };

    public static object ShortJob(int priority = 0, string prompt = "a red circle") => new { prompt, steps = 3, width = 64, height = 64, seed = 1, priority };

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync(TestContext.Current.CancellationToken);
        await App.DisposeAsync();
    }
}
