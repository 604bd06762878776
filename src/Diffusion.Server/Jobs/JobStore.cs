using System.Collections.Concurrent;

namespace Diffusion.Server.Jobs;

/// <summary>Every job by id: waiting, running and the last finished ones (bounded; the oldest finished are forgotten first).</summary>
internal sealed class JobStore(Microsoft.Extensions.Options.IOptions<ServerOptions> options)
{
    private readonly ConcurrentDictionary<string, GenerationJob> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<GenerationJob> _finished = new();
    private long _sequence;

    public GenerationJob Create(GenerationRequest request)
    {
        var job = new GenerationJob(Guid.NewGuid().ToString("N"), request, Interlocked.Increment(ref _sequence));
        _jobs[job.Id] = job;
        _ = job.Completion.ContinueWith(_ => Retire(job), TaskScheduler.Default);
        return job;
    }

    public GenerationJob? Find(string id) => _jobs.TryGetValue(id, out GenerationJob? job) ? job : null;

    /// <summary>The job running now, if any.</summary>
    public GenerationJob? Running => _jobs.Values.FirstOrDefault(j => j.State == JobState.Running);

    private void Retire(GenerationJob job)
    {
        _finished.Enqueue(job);
        while (_finished.Count > options.Value.MaxFinishedJobs && _finished.TryDequeue(out GenerationJob? old))
            if (_jobs.TryRemove(old.Id, out _))
                old.Dispose();
    }
}
