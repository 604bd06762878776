using Diffusion.Server.Jobs;
using Microsoft.Extensions.Hosting;

namespace Diffusion.Server.Hosting;

/// <summary>
/// The in-process worker: takes jobs one at a time from the queue and runs them. At shutdown the running job finishes
/// and the waiting ones are handed back (cancelled with a reason that says to resubmit).
/// </summary>
internal sealed class GenerationWorker(IJobQueue queue, JobRunner runner) : BackgroundService
{
    public const string ShutdownReason = "the server is shutting down; submit the job again";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            GenerationJob job;
            try
            {
                job = await queue.DequeueAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            runner.Run(job); // not cancelled by shutdown: the running job finishes
        }
        foreach (GenerationJob waiting in queue.Drain())
            waiting.Cancelled(ShutdownReason);
    }
}
