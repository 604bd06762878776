using System.Diagnostics;
using System.Net.Http.Json;
using Diffusion.Server;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

// Load test of Diffusion.Server on loopback, bounded in count and time. The server runs in this process with the demo
// model; clients keep DEPTH A1111 txt2img requests in flight (closed loop) for each depth, then 1,000 native jobs are
// pushed through to watch memory. Prints a Markdown table for docs/serving.md.
//   dotnet run -c Release --project benchmarks/Diffusion.Server.LoadTest -- [requests-per-depth] [seconds-per-depth]
int perDepth = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 128;
double secondsPerDepth = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 30;
string demo = FindDemoModel();
var app = DiffusionServer.Build(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning"], o =>
{
    o.Model = demo;
    o.MaxQueueDepth = 128;
    o.PreviewEvery = 0;
});
await app.StartAsync();
string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(5) };
var body = new { prompt = "a red circle on a blue background", steps = 4, width = 64, height = 64, seed = 1 };
(await client.PostAsJsonAsync("/sdapi/v1/txt2img", body)).EnsureSuccessStatusCode(); // warm-up

Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}; .NET {Environment.Version}; demo model, 64x64, 4 steps, A1111 txt2img over loopback");
Console.WriteLine();
Console.WriteLine("| in flight | requests | throughput (img/s) | p50 latency (ms) | p95 latency (ms) | max (ms) |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
foreach (int depth in new[] { 1, 2, 4, 8, 16, 32, 64 })
{
    var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
    int issued = 0;
    var wall = Stopwatch.StartNew();
    var deadline = TimeSpan.FromSeconds(secondsPerDepth);
    await Task.WhenAll(Enumerable.Range(0, depth).Select(async _ =>
    {
        while (Interlocked.Increment(ref issued) <= perDepth && wall.Elapsed < deadline)
        {
            long start = Stopwatch.GetTimestamp();
            using HttpResponseMessage response = await client.PostAsJsonAsync("/sdapi/v1/txt2img", body);
            response.EnsureSuccessStatusCode();
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
    }));
    double[] sorted = [.. latencies.Order()];
    Console.WriteLine($"| {depth} | {sorted.Length} | {sorted.Length / wall.Elapsed.TotalSeconds:F1} | {Percentile(sorted, 0.50):F0} | {Percentile(sorted, 0.95):F0} | {sorted[^1]:F0} |");
}

// Memory over 1,000 jobs: the server keeps the last MaxFinishedJobs (1,000) results, so memory should level off.
Console.WriteLine();
Console.WriteLine("| jobs done | working set (MB) | managed heap (MB) |");
Console.WriteLine("|---:|---:|---:|");
var process = Process.GetCurrentProcess();
void Memory(int done)
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    process.Refresh();
    Console.WriteLine($"| {done} | {process.WorkingSet64 / 1e6:F0} | {GC.GetTotalMemory(forceFullCollection: true) / 1e6:F1} |");
}
Memory(0);
var jobBody = new { prompt = "a red circle", steps = 2, width = 64, height = 64 };
for (int wave = 0; wave < 10; wave++)
{
    await Task.WhenAll(Enumerable.Range(0, 100).Select(async _ =>
    {
        using HttpResponseMessage response = await client.PostAsJsonAsync("/sdapi/v1/txt2img", jobBody);
        response.EnsureSuccessStatusCode();
    }));
    if (wave % 3 == 2 || wave == 9)
        Memory((wave + 1) * 100);
}
await app.StopAsync();

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

static string FindDemoModel()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        string candidate = Path.Combine(dir.FullName, "models", "demo-shapes");
        if (File.Exists(Path.Combine(candidate, "model_index.json")))
            return candidate;
    }
    throw new DirectoryNotFoundException("models/demo-shapes not found above the program.");
}
