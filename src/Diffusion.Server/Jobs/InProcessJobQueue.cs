namespace Diffusion.Server.Jobs;

/// <summary>A bounded priority queue in memory: higher <see cref="GenerationRequest.Priority"/> first, arrival order among equals.</summary>
internal sealed class InProcessJobQueue(int capacity) : IJobQueue, IDisposable
{
    private readonly Lock _gate = new();
    private readonly PriorityQueue<GenerationJob, (int, long)> _waiting = new();
    private readonly HashSet<GenerationJob> _removed = [];
    private readonly SemaphoreSlim _available = new(0);
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public bool TryEnqueue(GenerationJob job)
    {
        lock (_gate)
        {
            if (_count >= capacity)
                return false;
            _waiting.Enqueue(job, (-job.Request.Priority, job.Sequence));
            _count++;
        }
        _available.Release();
        return true;
    }

    public async ValueTask<GenerationJob> DequeueAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                // Removed jobs stay in the heap (it cannot delete from the middle) and are skipped here; each kept its
                // own semaphore count, so skipping one just moves to the next wait.
                if (_waiting.TryDequeue(out GenerationJob? job, out _) && !_removed.Remove(job))
                {
                    _count--;
                    return job;
                }
            }
        }
    }

    public bool TryRemove(GenerationJob job)
    {
        lock (_gate)
        {
            if (job.State != JobState.Queued || _removed.Contains(job) || !_waiting.UnorderedItems.Any(item => ReferenceEquals(item.Element, job)))
                return false;
            _removed.Add(job);
            _count--;
            return true;
        }
    }

    public IReadOnlyList<GenerationJob> Drain()
    {
        lock (_gate)
        {
            var jobs = new List<GenerationJob>();
            while (_waiting.TryDequeue(out GenerationJob? job, out _))
                if (!_removed.Remove(job))
                    jobs.Add(job);
            _count = 0;
            return jobs;
        }
    }

    public void Dispose() => _available.Dispose();
}
