using Diffusion.Server.Api;
using Diffusion.Server.Hosting;
using Diffusion.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Diffusion.Server;

/// <summary>
/// Builds the server: the model loaded by a <c>PipelineHost</c>, one worker taking jobs from a bounded priority queue, the
/// native, A1111 and OpenAI APIs, health checks, API keys, an OpenAPI document at <c>/openapi/v1.json</c> and the
/// <c>Diffusion.Server</c> meter registered with OpenTelemetry (exporters are added through <c>Build</c>'s metrics callback).
/// </summary>
public static class DiffusionServer
{
    /// <summary>Creates the application; call <c>Run</c>/<c>RunAsync</c> on it (URLs from <c>--urls</c>/<c>ASPNETCORE_URLS</c> as usual).</summary>
    /// <param name="args">Host arguments (configuration: section <c>Diffusion</c> binds <see cref="ServerOptions"/>).</param>
    /// <param name="configure">Changes to the options after configuration is read.</param>
    /// <param name="metrics">Adds exporters or readers to the OpenTelemetry metrics pipeline.</param>
    public static WebApplication Build(string[] args, Action<ServerOptions>? configure = null, Action<MeterProviderBuilder>? metrics = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
        // Per-request logs at Information would drown the server's own lines; configuration can lower this again.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.AddOptions<ServerOptions>()
            .Bind(builder.Configuration.GetSection("Diffusion"))
            .PostConfigure(o => configure?.Invoke(o))
            .Validate(o =>
            {
                o.Validate();
                return true;
            });
        builder.Services.AddSingleton<IJobQueue>(sp => new InProcessJobQueue(sp.GetRequiredService<IOptions<ServerOptions>>().Value.MaxQueueDepth));
        builder.Services.AddSingleton<JobStore>();
        builder.Services.AddSingleton<JobSubmission>();
        builder.Services.AddSingleton<PipelineHost>();
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddHostedService<GenerationWorker>();
        builder.Services.AddOpenApi();
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenTelemetry().WithMetrics(m =>
        {
            m.AddMeter(ServerMetrics.MeterName);
            metrics?.Invoke(m);
        });

        WebApplication app = builder.Build();
        // Load the model before the first request: a model that does not load stops the server at start, with its error.
        _ = app.Services.GetRequiredService<PipelineHost>();
        app.UseMiddleware<ApiKeyMiddleware>();
        app.MapOpenApi();
        WebUi.Map(app);
        HealthApi.Map(app);
        NativeJobsApi.Map(app);
        A1111Api.Map(app);
        OpenAIImagesApi.Map(app);
        return app;
    }
}
