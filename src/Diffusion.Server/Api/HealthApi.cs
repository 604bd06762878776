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
        app.MapGet("/ready", (PipelineHost host, IJobQueue queue, IOptions<ServerOptions> options) =>
            queue.Count < options.Value.MaxQueueDepth
                ? Results.Ok(new { status = "ready", model = host.ModelName, queued = queue.Count })
                : Results.Json(new { status = "queue full", model = host.ModelName, queued = queue.Count }, statusCode: StatusCodes.Status503ServiceUnavailable))
            .WithTags("health");
    }
}
