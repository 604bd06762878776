namespace Diffusion.Server.Jobs;

/// <summary>Where a job is.</summary>
internal enum JobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}
