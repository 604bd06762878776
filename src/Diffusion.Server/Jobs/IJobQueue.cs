namespace Diffusion.Server.Jobs;

/// <summary>
/// Where jobs wait for a worker. The in-process queue is the default; a shared broker-backed queue lets workers on
/// several machines take jobs from one front end.
/// </summary>
internal interface IJobQueue
{
    /// <summary>Jobs waiting now.</summary>
    int Count { get; }

    /// <summary>Adds a job; false when the queue is full.</summary>
    bool TryEnqueue(GenerationJob job);

    /// <summary>Takes the highest-priority job (oldest first among equals), waiting for one.</summary>
    ValueTask<GenerationJob> DequeueAsync(CancellationToken cancellationToken);

    /// <summary>Removes a waiting job; false when it is not waiting (running, finished or unknown).</summary>
    bool TryRemove(GenerationJob job);

    /// <summary>Removes and returns every waiting job (at shutdown, to hand them back).</summary>
    IReadOnlyList<GenerationJob> Drain();
}
