using System.CommandLine;
using Diffusion.Core;
using Diffusion.Server;
using Microsoft.Extensions.Hosting;

namespace Diffusion.Cli;

/// <summary><c>diffusion serve</c>: the HTTP server (native jobs API with SSE, A1111's /sdapi/v1, OpenAI's images API) on one model.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model folder or single file (default: the built-in demo model)", DefaultValueFactory = _ => DemoModel.Path };
        var config = new Option<string?>("--config") { Description = "for a single-file checkpoint: its config folder" };
        var urls = new Option<string>("--urls") { Description = "addresses to listen on", DefaultValueFactory = _ => "http://127.0.0.1:7860" };
        var provider = new Option<string>("--provider") { Description = "execution provider: cpu, cuda[:id], directml[:adapter], ...", DefaultValueFactory = _ => "cpu" };
        var queue = new Option<int>("--max-queue") { Description = "jobs waiting at most (a full queue answers 429)", DefaultValueFactory = _ => 64 };
        var apiKeys = new Option<string[]>("--api-key") { Description = "require this API key (repeatable); also DIFFUSION_API_KEY", AllowMultipleArgumentsPerToken = false };
        var loras = new Option<string?>("--lora-dir") { Description = "folder of LoRA files clients may name" };
        var role = new Option<string>("--role") { Description = "standalone (one process), front-end (APIs; jobs to RabbitMQ) or worker (runs jobs from RabbitMQ)", DefaultValueFactory = _ => "standalone" };
        role.AcceptOnlyFromAmong("standalone", "front-end", "worker");
        var rabbitMq = new Option<string?>("--rabbitmq") { Description = "the RabbitMQ broker of a front end and its workers (amqp://user:password@host:5672/); also DIFFUSION_RABBITMQ" };
        var name = new Option<string?>("--name") { Description = "this process's name in the broker and in job status (default: host name and process id)" };
        var command = new Command("serve", "Serve the model over HTTP: native jobs API with SSE, A1111 /sdapi/v1, OpenAI /v1/images/generations.")
        {
            model, config, urls, provider, queue, apiKeys, loras, role, rabbitMq, name,
        };
        command.Validators.Add(result =>
        {
            // The raw token: GetValue throws when --role itself is invalid (its own error reports that).
            string? given = result.GetResult(role) is { Tokens.Count: > 0 } option ? option.Tokens[0].Value : null;
            if (given is "front-end" or "worker" && result.GetResult(rabbitMq) is null
                && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DIFFUSION_RABBITMQ")))
                result.AddError($"--role {given} needs --rabbitmq amqp://user:password@host:5672/ (or DIFFUSION_RABBITMQ).");
        });
        command.SetAction(async (parsed, ct) =>
        {
            try
            {
                var app = DiffusionServer.Build(["--urls", parsed.GetValue(urls)!], options =>
                {
                    options.Model = parsed.GetValue(model)!;
                    options.ConfigDirectory = parsed.GetValue(config);
                    options.Provider = parsed.GetValue(provider)!;
                    options.MaxQueueDepth = parsed.GetValue(queue);
                    options.LoraDirectory = parsed.GetValue(loras);
                    options.Role = ToRole(parsed.GetValue(role));
                    if (Environment.GetEnvironmentVariable("DIFFUSION_ORT_CACHE") is { Length: > 0 } cache)
                        options.OptimizedModelCache = cache;
                    options.RabbitMq = parsed.GetValue(rabbitMq) ?? Environment.GetEnvironmentVariable("DIFFUSION_RABBITMQ");
                    if (parsed.GetValue(name) is { } instance)
                        options.InstanceName = instance;
                    foreach (string key in parsed.GetValue(apiKeys) ?? [])
                        options.ApiKeys.Add(key);
                    if (Environment.GetEnvironmentVariable("DIFFUSION_API_KEY") is { Length: > 0 } fromEnvironment)
                        options.ApiKeys.Add(fromEnvironment);
                });
                ConsoleOutput.Line(ToRole(parsed.GetValue(role)) switch
                {
                    ServerRole.Worker => $"Worker for {parsed.GetValue(model)}: jobs from RabbitMQ; /health and /ready on {parsed.GetValue(urls)}",
                    ServerRole.FrontEnd => $"Front end for {parsed.GetValue(model)} on {parsed.GetValue(urls)}: jobs go to RabbitMQ workers (OpenAPI: /openapi/v1.json)",
                    _ => $"Serving {parsed.GetValue(model)} on {parsed.GetValue(urls)} (OpenAPI: /openapi/v1.json)",
                });
                await app.StartAsync(ct);
                await app.WaitForShutdownAsync(ct);
                return 0;
            }
            catch (Exception ex) when (ex is DiffusionException or ArgumentException or IOException or Microsoft.Extensions.Options.OptionsValidationException
                or Diffusion.Server.Distributed.BrokerUnavailableException)
            {
                return ConsoleOutput.Error(ex.Message);
            }
        });
        return command;
    }

    private static ServerRole ToRole(string? role) => role switch
    {
        "front-end" => ServerRole.FrontEnd,
        "worker" => ServerRole.Worker,
        _ => ServerRole.Standalone,
    };
}
