namespace Diffusion.Server;

/// <summary>What the server loads and the limits it enforces (bound from configuration section <c>Diffusion</c> or set in code).</summary>
public sealed class ServerOptions
{
    /// <summary>The model folder or single file the worker loads.</summary>
    public string Model { get; set; } = "models/demo-shapes";

    /// <summary>For a single-file checkpoint: its config folder.</summary>
    public string? ConfigDirectory { get; set; }

    /// <summary>Execution provider text (<c>cpu</c>, <c>cuda:0</c>, …).</summary>
    public string Provider { get; set; } = "cpu";

    /// <summary>A folder for ONNX Runtime's optimised graphs, so a restarted server or worker loads in about a second (see docs/performance.md).</summary>
    public string? OptimizedModelCache { get; set; }

    /// <summary>Intra-op threads; null for ONNX Runtime's default.</summary>
    public int? Threads { get; set; }

    /// <summary>Jobs waiting at most (a full queue answers 429 with Retry-After).</summary>
    public int MaxQueueDepth { get; set; } = 64;

    /// <summary>Largest width or height a request may ask for.</summary>
    public int MaxImageSize { get; set; } = 2048;

    /// <summary>Largest encoded image (init image, mask) a request may send, in bytes (default 32 MiB).</summary>
    public int MaxImageBytes { get; set; } = 32 << 20;

    /// <summary>The largest request body Kestrel reads: two images at <see cref="MaxImageBytes"/> in base64, plus 1 MiB.</summary>
    public long MaxRequestBytes => MaxImageBytes * 2L * 4 / 3 + (1 << 20);

    /// <summary>Most steps a request may ask for.</summary>
    public int MaxSteps { get; set; } = 150;

    /// <summary>Most images one request may ask for.</summary>
    public int MaxBatch { get; set; } = 8;

    /// <summary>Finished jobs kept for GET (the oldest are forgotten first).</summary>
    public int MaxFinishedJobs { get; set; } = 1000;

    /// <summary>API keys; empty means no key is needed. Sent as <c>Authorization: Bearer KEY</c> or <c>X-Api-Key: KEY</c>.</summary>
    public IList<string> ApiKeys { get; } = [];

    /// <summary>
    /// <see cref="ServerRole.Standalone"/> (default: APIs, queue and worker in one process), <see cref="ServerRole.FrontEnd"/>
    /// (APIs; jobs go to the RabbitMQ queue and results come back from workers) or <see cref="ServerRole.Worker"/> (takes jobs
    /// from RabbitMQ and publishes results; serves only /health and /ready).
    /// </summary>
    public ServerRole Role { get; set; } = ServerRole.Standalone;

    /// <summary>The RabbitMQ broker of a front end and its workers (<c>amqp://user:password@host:5672/vhost</c>).</summary>
    public string? RabbitMq { get; set; }

    /// <summary>This process's name in the broker, in job status (<c>worker</c>) and in logs (default: machine name and process id).</summary>
    public string InstanceName { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>The folder of LoRA files clients may list (<c>/sdapi/v1/loras</c>) and name in prompts.</summary>
    public string? LoraDirectory { get; set; }

    /// <summary>Progress events carry a preview image every this many steps (0: none).</summary>
    public int PreviewEvery { get; set; } = 1;

    /// <summary>Checks the values; throws <see cref="ArgumentOutOfRangeException"/> naming the setting.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxQueueDepth, 1, nameof(MaxQueueDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxImageSize, 8, nameof(MaxImageSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxImageSize, 8192, nameof(MaxImageSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxImageBytes, 1024, nameof(MaxImageBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxImageBytes, 256 << 20, nameof(MaxImageBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSteps, 1, nameof(MaxSteps));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxSteps, 1000, nameof(MaxSteps));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatch, 1, nameof(MaxBatch));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxBatch, 64, nameof(MaxBatch));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFinishedJobs, 1, nameof(MaxFinishedJobs));
        ArgumentOutOfRangeException.ThrowIfNegative(PreviewEvery, nameof(PreviewEvery));
        if (Role != ServerRole.Standalone && string.IsNullOrWhiteSpace(RabbitMq))
            throw new ArgumentException($"Role {Role} needs the RabbitMQ broker's address (RabbitMq = amqp://…).", nameof(RabbitMq));
        if (RabbitMq is { Length: > 0 } address && (!Uri.TryCreate(address, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("amqp" or "amqps")))
            throw new ArgumentException($"RabbitMq '{address}' is not an amqp:// or amqps:// address.", nameof(RabbitMq));
        if (string.IsNullOrWhiteSpace(InstanceName) || InstanceName.Length > 100 || InstanceName.Any(char.IsControl))
            throw new ArgumentException("InstanceName must be 1–100 printable characters.", nameof(InstanceName));
    }
}
