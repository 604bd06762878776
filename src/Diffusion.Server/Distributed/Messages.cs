using Diffusion.Server.Jobs;

namespace Diffusion.Server.Distributed;

/// <summary>A job on the shared queue: its id (the front end's) and the request. The front end's reply queue rides in <c>ReplyTo</c>.</summary>
internal sealed record JobMessage(string JobId, GenerationRequest Request);

/// <summary>
/// What a worker tells the front end about a job, in order on the front end's reply queue: <c>started</c>, <c>progress</c>
/// (step, optional preview PNG), then one of <c>succeeded</c> (PNGs, infotexts, seed), <c>failed</c> or <c>cancelled</c> (reason).
/// </summary>
internal sealed record WorkerReport(
    string JobId, string Worker, string Kind, int Step = 0, int TotalSteps = 0, byte[]? Preview = null,
    IReadOnlyList<byte[]>? Images = null, IReadOnlyList<string>? Infotexts = null, ulong? Seed = null, string? Error = null)
{
    public bool IsFinal => Kind is "succeeded" or "failed" or "cancelled";
}

/// <summary>The broker's names, shared by front ends and workers.</summary>
internal static class RabbitMqNames
{
    /// <summary>Durable queue of jobs, with priorities 0–9 (request priorities are clamped into it).</summary>
    public const string Jobs = "diffusion.jobs";

    /// <summary>Fanout exchange of job ids to cancel (each worker binds its own temporary queue).</summary>
    public const string Cancel = "diffusion.cancel";

    /// <summary>The prefix of each front end's own reply queue (exclusive: it goes with the front end).</summary>
    public const string RepliesPrefix = "diffusion.replies.";

    public const int MaxPriority = 9;
}
