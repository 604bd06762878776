namespace Diffusion.Server.Jobs;

/// <summary>What happened to a job, in order: progress after each step (with a preview PNG every few steps), then one final event.</summary>
/// <param name="Kind"><c>queued</c>, <c>started</c>, <c>progress</c>, <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</param>
/// <param name="Step">Steps done (progress).</param>
/// <param name="TotalSteps">Steps in all (progress).</param>
/// <param name="Preview">A preview PNG of the first image, when this event carries one.</param>
/// <param name="Error">Why the job failed or was cancelled.</param>
internal sealed record JobEvent(string Kind, int Step = 0, int TotalSteps = 0, byte[]? Preview = null, string? Error = null)
{
    public bool IsFinal => Kind is "succeeded" or "failed" or "cancelled";
}
