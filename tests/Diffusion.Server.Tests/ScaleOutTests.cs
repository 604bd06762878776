using System.Net.Http.Json;
using System.Text.Json;
using Diffusion.Server.Distributed;
using Diffusion.Server.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Diffusion.Server.Tests;

/// <summary>
/// A front end and worker processes around a real RabbitMQ node: jobs run on the workers with the same result as one
/// process, a job whose worker is killed is finished by another, cancellation reaches the worker, stale reports are
/// discarded, and a broker that cannot be reached is an error at start.
/// </summary>
public sealed class ScaleOutTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<TestServer> StartFrontEndAsync(RabbitMqBroker broker) => TestServer.StartAsync(o =>
    {
        o.Role = ServerRole.FrontEnd;
        o.RabbitMq = broker.Address;
        o.InstanceName = $"front-{Guid.NewGuid():N}";
    });

    [Fact]
    public async Task Jobs_run_on_both_workers_and_give_the_images_one_process_gives()
    {
        await using RabbitMqBroker broker = await RabbitMqBroker.StartAsync();
        await using WorkerProcess first = await WorkerProcess.StartAsync(broker, "worker-a");
        await using WorkerProcess second = await WorkerProcess.StartAsync(broker, "worker-b");
        await using TestServer frontEnd = await StartFrontEndAsync(broker);

        string[] ids = await Task.WhenAll(Enumerable.Range(1, 4).Select(seed => frontEnd.SubmitAsync(new { prompt = "a red circle", steps = 4, width = 64, height = 64, seed })));
        var workers = new HashSet<string>();
        foreach (string id in ids)
        {
            JsonElement status = await FinishedAsync(frontEnd, id);
            Assert.Equal("succeeded", status.GetProperty("state").GetString());
            workers.Add(status.GetProperty("worker").GetString()!);
        }
        Assert.Equal(["worker-a", "worker-b"], workers.Order());

        byte[] distributed = await frontEnd.Client.GetByteArrayAsync($"/api/v1/jobs/{ids[0]}/images/0", Ct);
        await using TestServer standalone = await TestServer.StartAsync();
        string local = await standalone.SubmitAsync(new { prompt = "a red circle", steps = 4, width = 64, height = 64, seed = 1 });
        await standalone.WaitForAsync(local, "succeeded");
        Assert.Null((await standalone.StatusAsync(local)).GetProperty("worker").GetString());
        Assert.Equal(await standalone.Client.GetByteArrayAsync($"/api/v1/jobs/{local}/images/0", Ct), distributed);
    }

    [Fact]
    public async Task Fifty_small_jobs_through_a_full_queue_and_a_killed_worker_each_get_exactly_one_result()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await using RabbitMqBroker broker = await RabbitMqBroker.StartAsync();
        await using WorkerProcess first = await WorkerProcess.StartAsync(broker, "worker-a");
        await using WorkerProcess second = await WorkerProcess.StartAsync(broker, "worker-b");
        await using TestServer frontEnd = await TestServer.StartAsync(o =>
        {
            o.Role = ServerRole.FrontEnd;
            o.RabbitMq = broker.Address;
            o.InstanceName = "front-fifty";
            o.MaxQueueDepth = 8;
        });
        JobStore store = frontEnd.App.Services.GetRequiredService<JobStore>();

        int refusals = 0, finished = 0;
        // Fifty clients at once against a queue of eight: a 429 carries Retry-After and the client submits again.
        Task<string>[] submissions = [.. Enumerable.Range(0, 50).Select(async i =>
        {
            while (true)
            {
                HttpResponseMessage response = await frontEnd.Client.PostAsJsonAsync("/api/v1/jobs", new { prompt = $"job {i}", steps = 2, width = 64, height = 64, seed = i }, Ct);
                if (response.StatusCode == System.Net.HttpStatusCode.TooManyRequests)
                {
                    Assert.NotNull(response.Headers.RetryAfter);
                    Interlocked.Increment(ref refusals);
                    await Task.Delay(50, Ct);
                    continue;
                }
                Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
                using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
                string id = json.RootElement.GetProperty("id").GetString()!;
                _ = store.Find(id)!.Completion.ContinueWith(_ => Interlocked.Increment(ref finished), TaskScheduler.Default);
                return id;
            }
        })];
        // A worker is killed while the queue is busy: whatever it held unacknowledged goes to the other one.
        while (Volatile.Read(ref finished) < 10)
            await Task.Delay(10, Ct);
        await first.KillAsync();

        string[] ids = await Task.WhenAll(submissions);
        Assert.Equal(50, ids.Distinct().Count());
        foreach (string id in ids)
        {
            JsonElement status = await FinishedAsync(frontEnd, id);
            Assert.Equal("succeeded", status.GetProperty("state").GetString());
            Assert.Single(status.GetProperty("images").EnumerateArray());
        }
        Assert.True(refusals > 0, "the queue of eight never filled");
        // Exactly one stored result per job: the front end counts a job when its result is stored.
        frontEnd.FlushMetrics();
        OpenTelemetry.Metrics.Metric jobs = frontEnd.Metrics.Last(m => m.Name == "diffusion.jobs");
        long stored = 0;
        foreach (ref readonly OpenTelemetry.Metrics.MetricPoint point in jobs.GetMetricPoints())
            stored += point.GetSumLong();
        Assert.Equal(50, stored);
        Assert.True(watch.Elapsed < TimeSpan.FromMinutes(3), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task A_job_whose_worker_is_killed_is_finished_by_the_other_worker()
    {
        await using RabbitMqBroker broker = await RabbitMqBroker.StartAsync();
        await using WorkerProcess first = await WorkerProcess.StartAsync(broker, "worker-a");
        await using WorkerProcess second = await WorkerProcess.StartAsync(broker, "worker-b");
        await using TestServer frontEnd = await StartFrontEndAsync(broker);

        string id = await frontEnd.SubmitAsync(TestServer.LongJob());
        JsonElement running = await WaitForStepAsync(frontEnd, id, 3);
        string victim = running.GetProperty("worker").GetString()!;
        await (victim == first.Name ? first : second).KillAsync();

        JsonElement done = await FinishedAsync(frontEnd, id);
        Assert.Equal("succeeded", done.GetProperty("state").GetString());
        string survivor = victim == first.Name ? second.Name : first.Name;
        Assert.Equal(survivor, done.GetProperty("worker").GetString());
        Assert.Equal(150, done.GetProperty("step").GetInt32());
    }

    [Fact]
    public async Task A_worker_stopped_with_SIGTERM_finishes_its_job_and_takes_no_more()
    {
        await using RabbitMqBroker broker = await RabbitMqBroker.StartAsync();
        await using WorkerProcess worker = await WorkerProcess.StartAsync(broker, "worker-a");
        await using TestServer frontEnd = await StartFrontEndAsync(broker);

        string running = await frontEnd.SubmitAsync(TestServer.LongJob());
        string waiting = await frontEnd.SubmitAsync(TestServer.ShortJob());
        await WaitForStepAsync(frontEnd, running, 2);
        Assert.Equal(0, await worker.TerminateAsync());

        // The running job was finished and acknowledged by the stopping worker, not handed to another one.
        JsonElement done = await FinishedAsync(frontEnd, running);
        Assert.Equal("succeeded", done.GetProperty("state").GetString());
        Assert.Equal("worker-a", done.GetProperty("worker").GetString());
        // The waiting one stays queued in the broker for the next worker.
        Assert.Equal("queued", (await frontEnd.StatusAsync(waiting)).GetProperty("state").GetString());
        await using WorkerProcess next = await WorkerProcess.StartAsync(broker, "worker-b");
        JsonElement later = await FinishedAsync(frontEnd, waiting);
        Assert.Equal("worker-b", later.GetProperty("worker").GetString());
    }

    [Fact]
    public async Task Cancelling_a_running_job_stops_it_on_its_worker_which_then_takes_the_next()
    {
        await using RabbitMqBroker broker = await RabbitMqBroker.StartAsync();
        await using WorkerProcess worker = await WorkerProcess.StartAsync(broker, "worker-a");
        await using TestServer frontEnd = await StartFrontEndAsync(broker);

        string running = await frontEnd.SubmitAsync(TestServer.LongJob());
        // Running this one would take the worker over ten seconds (150 steps at 512²); skipped, it takes none.
        string waiting = await frontEnd.SubmitAsync(new { prompt = "a longer job", steps = 150, width = 512, height = 512 });
        string next = await frontEnd.SubmitAsync(TestServer.ShortJob());
        await WaitForStepAsync(frontEnd, running, 2);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await frontEnd.Client.DeleteAsync($"/api/v1/jobs/{waiting}", Ct)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await frontEnd.Client.DeleteAsync($"/api/v1/jobs/{running}", Ct)).StatusCode);

        JsonElement stopped = await FinishedAsync(frontEnd, running);
        Assert.Equal("cancelled", stopped.GetProperty("state").GetString());
        Assert.True(stopped.GetProperty("step").GetInt32() < 150);
        Assert.Equal("cancelled", (await frontEnd.StatusAsync(waiting)).GetProperty("state").GetString());
        JsonElement after = await FinishedAsync(frontEnd, next);
        Assert.Equal("succeeded", after.GetProperty("state").GetString());
        Assert.Equal("worker-a", after.GetProperty("worker").GetString());
        // The waiting job was skipped, not run: the next job finished well before the waiting one could have.
        Assert.True((after.GetProperty("finished").GetDateTimeOffset() - stopped.GetProperty("finished").GetDateTimeOffset()) < TimeSpan.FromSeconds(8), worker.Log);
    }

    [Fact]
    public async Task Reports_on_jobs_that_are_final_or_unknown_change_nothing()
    {
        await using RabbitMqBroker broker = await RabbitMqBroker.StartAsync();
        await using TestServer frontEnd = await StartFrontEndAsync(broker);
        RabbitMqReplyListener listener = frontEnd.App.Services.GetServices<IHostedService>().OfType<RabbitMqReplyListener>().Single();
        JobStore store = frontEnd.App.Services.GetRequiredService<JobStore>();

        GenerationJob job = store.Create(new GenerationRequest { Prompt = "x", Steps = 2 });
        Assert.True(listener.Apply(new WorkerReport(job.Id, "worker-a", "started", TotalSteps: 2)));
        Assert.True(listener.Apply(new WorkerReport(job.Id, "worker-a", "succeeded", 2, 2, Images: [[1, 2, 3]], Infotexts: ["first"], Seed: 7)));
        // A second run's result (its worker died after publishing, before acknowledging) is discarded.
        Assert.False(listener.Apply(new WorkerReport(job.Id, "worker-b", "succeeded", 2, 2, Images: [[9]], Infotexts: ["second"], Seed: 8)));
        Assert.False(listener.Apply(new WorkerReport(job.Id, "worker-b", "progress", 1, 2)));
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal("worker-a", job.Worker);
        Assert.Equal(["first"], job.Infotexts);
        Assert.Equal(7UL, job.Seed);
        Assert.False(listener.Apply(new WorkerReport("no-such-job", "worker-a", "succeeded", 2, 2, Images: [[1]], Infotexts: ["x"])));

        // A success without images is not a success.
        GenerationJob other = store.Create(new GenerationRequest { Prompt = "y", Steps = 2 });
        Assert.True(listener.Apply(new WorkerReport(other.Id, "worker-a", "succeeded", 2, 2, Images: [], Infotexts: [])));
        Assert.NotEqual(JobState.Succeeded, other.State);
    }

    [Fact]
    public async Task A_broker_that_cannot_be_reached_stops_the_front_end_and_the_worker_at_start()
    {
        int closed = RabbitMqBroker.FreePort(); // free, so nothing answers there
        foreach (ServerRole role in new[] { ServerRole.FrontEnd, ServerRole.Worker })
        {
            var error = await Assert.ThrowsAsync<BrokerUnavailableException>(() => TestServer.StartAsync(o =>
            {
                o.Role = role;
                o.RabbitMq = $"amqp://guest:guest@127.0.0.1:{closed}/";
            }));
            Assert.Contains($"127.0.0.1:{closed}", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(ServerRole.Worker, null, "RabbitMq")]
    [InlineData(ServerRole.FrontEnd, "http://127.0.0.1:5672/", "RabbitMq")]
    public async Task A_role_without_a_usable_broker_address_is_refused(ServerRole role, string? address, string option)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => TestServer.StartAsync(o =>
        {
            o.Role = role;
            o.RabbitMq = address;
        }));
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    /// <summary>The job once it is final (succeeded, failed or cancelled).</summary>
    private static Task<JsonElement> FinishedAsync(TestServer server, string id) => server.WaitForAsync(id, "succeeded", "failed", "cancelled");

    private static async Task<JsonElement> WaitForStepAsync(TestServer server, string id, int step)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            JsonElement status = await server.StatusAsync(id);
            if (status.GetProperty("state").GetString() == "running" && status.GetProperty("step").GetInt32() >= step)
                return status;
            Assert.True(DateTime.UtcNow < deadline, $"job {id} did not reach step {step}: {status}");
            await Task.Delay(20, Ct);
        }
    }
}
