using Diffusion.Server.Api;
using Diffusion.Server.Distributed;
using Diffusion.Server.Hosting;
using Diffusion.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Diffusion.Server;

/// <summary>
/// Builds the server: the model loaded by a <c>PipelineHost</c>, one worker taking jobs from a bounded priority queue, the
/// native, A1111 and OpenAI APIs (or, by <see cref="ServerOptions.Role"/>, a front end or a worker around a RabbitMQ queue), health checks, API keys, an OpenAPI document at <c>/openapi/v1.json</c> and the
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
        // The role decides the services, so read it before the container is built (code's configure wins over configuration).
        var role = builder.Configuration.GetSection("Diffusion").GetValue<ServerRole?>(nameof(ServerOptions.Role)) ?? ServerRole.Standalone;
        var probe = new ServerOptions { Role = role };
        configure?.Invoke(probe);
        role = probe.Role;
        AddRoleServices(builder.Services, role);
        // A body the endpoints cannot read throws (instead of an empty 400) so RequestBodyErrors can name the field;
        // Kestrel reads at most two images' worth.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>()
            .Configure<IOptions<ServerOptions>>((kestrel, server) => kestrel.Limits.MaxRequestBodySize = server.Value.MaxRequestBytes);
        builder.Services.AddOpenApi();
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenTelemetry().WithMetrics(m =>
        {
            m.AddMeter(ServerMetrics.MeterName);
            metrics?.Invoke(m);
        });

        WebApplication app = builder.Build();
        // Load the model before the first request: a model that does not load stops the server at start, with its error.
        _ = app.Services.GetRequiredService<IModelInfo>();
        // Likewise the broker: one that cannot be reached is an error here, not a failed host start.
        if (role != ServerRole.Standalone)
            app.Services.GetRequiredService<RabbitMqConnection>().ConnectAsync(CancellationToken.None).GetAwaiter().GetResult();
        app.UseMiddleware<ApiKeyMiddleware>();
        app.UseMiddleware<RequestBodyErrors>();
        if (role == ServerRole.Worker)
        {
            HealthApi.MapWorker(app);
            return app;
        }
        app.MapOpenApi();
        WebUi.Map(app);
        HealthApi.Map(app);
        NativeJobsApi.Map(app);
        A1111Api.Map(app);
        OpenAIImagesApi.Map(app);
        return app;
    }

    private static void AddRoleServices(IServiceCollection services, ServerRole role)
    {
        services.AddSingleton(sp => new ServerMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), sp.GetService<IJobQueue>()));
        if (role != ServerRole.Worker)
        {
            services.AddSingleton<JobStore>();
            services.AddSingleton<JobSubmission>();
        }
        if (role != ServerRole.FrontEnd)
        {
            services.AddSingleton<PipelineHost>();
            services.AddSingleton<IModelInfo>(sp => sp.GetRequiredService<PipelineHost>());
            services.AddSingleton<JobRunner>();
        }
        if (role != ServerRole.Standalone)
            services.AddSingleton<RabbitMqConnection>();
        switch (role)
        {
            case ServerRole.Standalone:
                services.AddSingleton<IJobQueue>(sp => new InProcessJobQueue(sp.GetRequiredService<IOptions<ServerOptions>>().Value.MaxQueueDepth));
                services.AddHostedService<GenerationWorker>();
                break;
            case ServerRole.FrontEnd:
                services.AddSingleton<IModelInfo, ConfiguredModelInfo>();
                services.AddSingleton<RabbitMqJobQueue>();
                services.AddSingleton<IJobQueue>(sp => sp.GetRequiredService<RabbitMqJobQueue>());
                services.AddHostedService<RabbitMqReplyListener>();
                break;
            case ServerRole.Worker:
                services.AddSingleton<RabbitMqWorker>();
                services.AddHostedService(sp => sp.GetRequiredService<RabbitMqWorker>());
                break;
        }
    }
}
