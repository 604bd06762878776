using System.Threading.Channels;

namespace Diffusion.Server.Jobs;

/// <summary>
/// One request's life: queued, running (with progress), then succeeded with PNGs, failed or cancelled. Subscribers (SSE
/// streams, synchronous API calls waiting for the result) get every event after the ones already past, in order.
/// Thread-safe: the worker updates it while request threads read it.
/// </summary>
internal sealed class GenerationJob(string id, GenerationRequest request, long sequence) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<Channel<JobEvent>> _subscribers = [];
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cancel = new();

    public string Id { get; } = id;
    public GenerationRequest Request { get; } = request;
    /// <summary>Arrival order, for equal priorities.</summary>
    public long Sequence { get; } = sequence;
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? Started { get; private set; }
    public DateTimeOffset? Finished { get; private set; }
    public JobState State { get; private set; } = JobState.Queued;
    public int Step { get; private set; }
    public int TotalSteps { get; private set; }
    public byte[]? LatestPreview { get; private set; }
    public IReadOnlyList<byte[]> Images { get; private set; } = [];
    /// <summary>A1111 infotext per image.</summary>
    public IReadOnlyList<string> Infotexts { get; private set; } = [];
    public ulong? Seed { get; private set; }
    public string? Error { get; private set; }

    /// <summary>Cancelled by DELETE, interrupt or shutdown; the worker passes it to the generation.</summary>
    public CancellationToken CancellationToken => _cancel.Token;

    /// <summary>Completes when the job reaches a final state.</summary>
    public Task Completion => _finished.Task;

    /// <summary>A stream of the job's events from now on (a final job yields its final event and ends).</summary>
    public ChannelReader<JobEvent> Subscribe()
    {
        var channel = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_gate)
        {
            channel.Writer.TryWrite(Snapshot());
            if (IsFinal)
                channel.Writer.TryComplete();
            else
                _subscribers.Add(channel);
        }
        return channel.Reader;
    }

    public bool IsFinal => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    /// <summary>The process running the job (a RabbitMQ worker's instance name; null when run in the server's own process).</summary>
    public string? Worker { get; private set; }

    public void MarkRunning(int totalSteps, string? worker = null) => Publish(() =>
    {
        State = JobState.Running;
        Worker = worker;
        Step = 0; // a job given to a second worker starts over
        Started = DateTimeOffset.UtcNow;
        TotalSteps = totalSteps;
        return new JobEvent("started", 0, totalSteps);
    });

    public void ReportProgress(int step, int totalSteps, byte[]? preview) => Publish(() =>
    {
        Step = step;
        TotalSteps = totalSteps;
        if (preview is not null)
            LatestPreview = preview;
        return new JobEvent("progress", step, totalSteps, preview);
    });

    public void Succeed(IReadOnlyList<byte[]> images, IReadOnlyList<string> infotexts, ulong seed) => Finish(JobState.Succeeded, () =>
    {
        Images = images;
        Infotexts = infotexts;
        Seed = seed;
        return new JobEvent("succeeded", TotalSteps, TotalSteps);
    });

    public void Fail(string error) => Finish(JobState.Failed, () =>
    {
        Error = error;
        return new JobEvent("failed", Step, TotalSteps, Error: error);
    });

    /// <summary>Asks the job to stop: a queued job is cancelled at once by the queue, a running one at its next step.</summary>
    public void RequestCancel() => _cancel.Cancel();

    public void Cancelled(string reason) => Finish(JobState.Cancelled, () =>
    {
        Error = reason;
        return new JobEvent("cancelled", Step, TotalSteps, Error: reason);
    });

    private void Finish(JobState state, Func<JobEvent> update)
    {
        lock (_gate)
        {
            if (IsFinal)
                return;
            State = state;
            Finished = DateTimeOffset.UtcNow;
            JobEvent final = update();
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryWrite(final);
                subscriber.Writer.TryComplete();
            }
            _subscribers.Clear();
        }
        _finished.TrySetResult();
    }

    private void Publish(Func<JobEvent> update)
    {
        lock (_gate)
        {
            if (IsFinal)
                return;
            JobEvent change = update();
            foreach (var subscriber in _subscribers)
                subscriber.Writer.TryWrite(change);
        }
    }

    /// <summary>The event that describes the job now (the first one a new subscriber gets).</summary>
    private JobEvent Snapshot() => State switch
    {
        JobState.Queued => new JobEvent("queued"),
        JobState.Running => new JobEvent("progress", Step, TotalSteps, LatestPreview),
        JobState.Succeeded => new JobEvent("succeeded", TotalSteps, TotalSteps),
        JobState.Failed => new JobEvent("failed", Step, TotalSteps, Error: Error),
        _ => new JobEvent("cancelled", Step, TotalSteps, Error: Error),
    };

    /// <summary>Releases the cancellation source (the store does this when it forgets a finished job).</summary>
    public void Dispose() => _cancel.Dispose();
}
