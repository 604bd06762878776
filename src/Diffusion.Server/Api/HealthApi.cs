using Diffusion.Server.Hosting;
using Diffusion.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Diffusion.Server.Api;

/// <summary><c>/health</c>: the process answers. <c>/ready</c>: the model is loaded and the queue has room (503 otherwise).</summary>
internal static class HealthApi
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/health", () => Results.Ok(new { status = "ok" })).WithTags("health");
        app.MapGet("/ready", (IModelInfo host, IJobQueue queue, IOptions<ServerOptions> options) =>
            queue.Count < options.Value.MaxQueueDepth
                ? Results.Ok(new { status = "ready", model = host.ModelName, queued = queue.Count })
                : Results.Json(new { status = "queue full", model = host.ModelName, queued = queue.Count }, statusCode: StatusCodes.Status503ServiceUnavailable))
            .WithTags("health");
    }

    /// <summary>A RabbitMQ worker's checks: <c>/ready</c> once the model is loaded and the worker is connected, naming its running job.</summary>
    public static void MapWorker(IEndpointRouteBuilder app)
    {
        app.MapGet("/health", () => Results.Ok(new { status = "ok" })).WithTags("health");
        app.MapGet("/ready", (IModelInfo host, Distributed.RabbitMqWorker worker, IOptions<ServerOptions> options) =>
            Results.Ok(new { status = "ready", model = host.ModelName, worker = options.Value.InstanceName, running = worker.RunningJob }))
            .WithTags("health");
    }
}
