using System.Diagnostics.Metrics;

namespace Diffusion.Server.Hosting;

/// <summary>
/// The server's OpenTelemetry metrics (meter <c>Diffusion.Server</c>): queue depth, job latency from arrival to result,
/// and denoising step time. Exported by whatever OpenTelemetry exporter the host adds.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Diffusion.Server";
    private readonly Meter _meter;

    /// <param name="factory">The host's meter factory.</param>
    /// <param name="queue">The server's queue; null on a RabbitMQ worker, whose queue depth is the broker's to report.</param>
    public ServerMetrics(IMeterFactory factory, Jobs.IJobQueue? queue)
    {
        _meter = factory.Create(MeterName);
        if (queue is not null)
            _meter.CreateObservableGauge("diffusion.queue.depth", () => queue.Count, "{job}", "Jobs waiting for a worker (a front end: its jobs not finished yet).");
        JobLatency = _meter.CreateHistogram<double>("diffusion.job.latency", "s", "Time from a job's arrival to its result.");
        StepTime = _meter.CreateHistogram<double>("diffusion.step.time", "s", "Time of one denoising step.");
        Jobs = _meter.CreateCounter<long>("diffusion.jobs", "{job}", "Jobs finished, by outcome.");
    }

    public Histogram<double> JobLatency { get; }
    public Histogram<double> StepTime { get; }
    public Counter<long> Jobs { get; }

    public void Dispose() => _meter.Dispose();
}
