using System.Text.Json;
using System.Text.Json.Serialization;
using Diffusion.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Diffusion.Server.Api;

/// <summary>
/// The native async API: <c>POST /api/v1/jobs</c> → 202 with the job's id and links; <c>GET /api/v1/jobs/{id}</c> the
/// state and image links; <c>GET /api/v1/jobs/{id}/images/{n}</c> a PNG; <c>GET /api/v1/jobs/{id}/events</c> Server-Sent
/// Events (progress with preview PNGs, then one final event); <c>DELETE /api/v1/jobs/{id}</c> cancels.
/// </summary>
internal static class NativeJobsApi
{
    public sealed record JobRequest(
        string Prompt, string? NegativePrompt, int? Steps, float? GuidanceScale, long? Seed, int? Width, int? Height,
        string? Sampler, int? BatchSize, string? InitImage, double? Strength, int? Priority, bool? WeightedPrompt,
        string? Mask = null, bool? InvertMask = null, int? MaskBlur = null, string? DeepCache = null);

    public sealed record JobStatus(
        string Id, string State, int Step, int TotalSteps, int Priority, DateTimeOffset Created, DateTimeOffset? Started, DateTimeOffset? Finished,
        ulong? Seed, string? Error, IReadOnlyList<string> Images, IReadOnlyList<string> Infotexts, string? Worker);

    private static readonly JsonSerializerOptions s_events = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static void Map(IEndpointRouteBuilder app)
    {
        RouteGroupBuilder jobs = app.MapGroup("/api/v1/jobs").WithTags("jobs");
        jobs.MapPost("/", (JobRequest body, JobSubmission submission) =>
        {
            if (ToRequest(body) is not { } request)
                return JobSubmission.BadRequest(body.Mask is not null && Base64Image.Decode(body.Mask) is null ? "mask" : "init_image", "the image is not valid base64.");
            (GenerationJob? job, IResult? refusal) = submission.Submit(request);
            return refusal ?? Results.Accepted($"/api/v1/jobs/{job!.Id}", Status(job));
        });
        jobs.MapGet("/{id}", (string id, JobStore store) => store.Find(id) is { } job ? Results.Ok(Status(job)) : NotFound(id));
        jobs.MapGet("/{id}/images/{index:int}", (string id, int index, JobStore store) =>
            store.Find(id) is { } job && index >= 0 && index < job.Images.Count
                ? Results.File(job.Images[index], "image/png", $"{id}-{index}.png")
                : NotFound(id));
        jobs.MapDelete("/{id}", (string id, JobStore store, JobSubmission submission) =>
            store.Find(id) is not { } job ? NotFound(id)
            : submission.Cancel(job) ? Results.Accepted($"/api/v1/jobs/{id}", Status(job))
            : Results.Conflict(new { error = $"job {id} has already finished ({job.State.ToString().ToLowerInvariant()})." }));
        jobs.MapGet("/{id}/events", StreamEvents);
    }

    /// <summary>Server-Sent Events: one <c>event:</c>/<c>data:</c> pair per job event, in order, until the final one.</summary>
    private static async Task StreamEvents(string id, JobStore store, HttpContext context)
    {
        if (store.Find(id) is not { } job)
        {
            await NotFound(id).ExecuteAsync(context);
            return;
        }
        context.Response.Headers.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        var reader = job.Subscribe();
        await foreach (JobEvent change in reader.ReadAllAsync(context.RequestAborted))
        {
            string data = JsonSerializer.Serialize(new
            {
                change.Step,
                change.TotalSteps,
                Preview = change.Preview is null ? null : Convert.ToBase64String(change.Preview),
                change.Error,
                Images = change.Kind == "succeeded" ? Enumerable.Range(0, job.Images.Count).Select(i => $"/api/v1/jobs/{id}/images/{i}").ToList() : null,
            }, s_events);
            await context.Response.WriteAsync($"event: {change.Kind}\ndata: {data}\n\n", context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }
    }

    internal static GenerationRequest? ToRequest(JobRequest body)
    {
        byte[]? init = null, mask = null;
        if (body.InitImage is { } text && (init = Base64Image.Decode(text)) is null)
            return null;
        if (body.Mask is { } maskText && (mask = Base64Image.Decode(maskText)) is null)
            return null;
        return new GenerationRequest
        {
            Prompt = body.Prompt ?? string.Empty,
            NegativePrompt = body.NegativePrompt ?? string.Empty,
            Steps = body.Steps ?? 20,
            GuidanceScale = body.GuidanceScale,
            Seed = body.Seed is long seed && seed >= 0 ? (ulong)seed : null,
            Width = body.Width,
            Height = body.Height,
            Sampler = string.IsNullOrWhiteSpace(body.Sampler) ? null : body.Sampler,
            BatchSize = body.BatchSize ?? 1,
            InitImage = init,
            Strength = body.Strength,
            Mask = mask,
            InvertMask = body.InvertMask ?? false,
            MaskBlur = body.MaskBlur ?? 0,
            StepCache = body.DeepCache,
            Priority = body.Priority ?? 0,
            WeightedPrompt = body.WeightedPrompt ?? true,
        };
    }

    private static JobStatus Status(GenerationJob job) => new(
        job.Id, job.State.ToString().ToLowerInvariant(), job.Step, job.TotalSteps, job.Request.Priority, job.Created, job.Started, job.Finished,
        job.Seed, job.Error, [.. Enumerable.Range(0, job.Images.Count).Select(i => $"/api/v1/jobs/{job.Id}/images/{i}")], job.Infotexts, job.Worker);

    private static IResult NotFound(string id) => Results.NotFound(new { error = $"no job {id} (finished jobs are kept for a while, then forgotten)." });
}
