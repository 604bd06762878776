using Diffusion.Core;
using Diffusion.Server.Jobs;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Diffusion.Server.Api;

/// <summary>What every API does with a request: check it against the limits, create the job, queue it (or answer 429 when full).</summary>
internal sealed class JobSubmission(IJobQueue queue, JobStore store, Hosting.IModelInfo model, IOptions<ServerOptions> options)
{
    /// <summary>Seconds a client is told to wait when the queue is full.</summary>
    public const int RetryAfterSeconds = 5;

    /// <summary>The queued job, or the HTTP answer that refuses it (400 naming the field, 429 with Retry-After, 503 when the broker is down).</summary>
    public (GenerationJob? Job, IResult? Refusal) Submit(GenerationRequest request)
    {
        try
        {
            request.Validate(options.Value);
            // Checked here so that a request no worker can run never reaches one.
            if (request.Sampler is { } sampler && !Core.Schedulers.SchedulerCatalog.Accepts(sampler, model.IsFlowMatching))
                throw new InvalidOptionException("sampler_name", $"'{sampler}' is not a sampler for {model.ModelName}; GET /sdapi/v1/samplers lists them.");
        }
        catch (InvalidOptionException ex)
        {
            return (null, BadRequest(ex.OptionName, ex.Message));
        }
        GenerationJob job = store.Create(request);
        bool queued;
        try
        {
            queued = queue.TryEnqueue(job);
        }
        catch (Distributed.BrokerUnavailableException ex)
        {
            job.Fail(ex.Message);
            return (null, Results.Problem(title: "queue unavailable", detail: ex.Message, statusCode: StatusCodes.Status503ServiceUnavailable));
        }
        if (!queued)
        {
            job.Cancelled("the queue is full");
            return (null, new QueueFullResult(options.Value.MaxQueueDepth));
        }
        return (job, null);
    }

    /// <summary>Cancels a job: removed from the queue when waiting, stopped at its next step when running.</summary>
    public bool Cancel(GenerationJob job)
    {
        if (job.IsFinal)
            return false;
        job.RequestCancel();
        if (queue.TryRemove(job))
            job.Cancelled("cancelled while queued");
        return true;
    }

    public static IResult BadRequest(string? field, string message) =>
        Results.Problem(title: "invalid request", detail: message, statusCode: StatusCodes.Status400BadRequest,
            extensions: new Dictionary<string, object?> { ["field"] = field });

    /// <summary>429 with Retry-After and a problem body.</summary>
    private sealed class QueueFullResult(int depth) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Problem(title: "queue full", detail: $"{depth} jobs are waiting; retry after {RetryAfterSeconds} s.",
                statusCode: StatusCodes.Status429TooManyRequests).ExecuteAsync(httpContext);
        }
    }
}
