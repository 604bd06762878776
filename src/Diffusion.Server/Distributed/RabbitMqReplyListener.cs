using System.Text.Json;
using Diffusion.Server.Jobs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Diffusion.Server.Distributed;

/// <summary>
/// A front end's side of the workers' reports: its own reply queue (exclusive, declared before the server takes requests)
/// applied to the jobs in the store in arrival order. A report on a job that is already final or unknown here (cancelled,
/// forgotten, or a second run after a worker died between publishing and acknowledging) changes nothing; when it says
/// a worker started or is running such a job, the job's cancel id is sent again so that worker stops.
/// </summary>
internal sealed partial class RabbitMqReplyListener(
    RabbitMqConnection broker, RabbitMqJobQueue queue, JobStore store, Hosting.ServerMetrics metrics, ILogger<RabbitMqReplyListener> logger)
    : IHostedService, IAsyncDisposable
{
    private IChannel? _channel;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _channel = await broker.CreateChannelAsync(cancellationToken).ConfigureAwait(false);
        await _channel.QueueDeclareAsync(queue.ReplyQueue, durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        var consumer = new AsyncEventingBasicConsumer(_channel);
        consumer.ReceivedAsync += OnReportAsync;
        await _channel.BasicConsumeAsync(queue.ReplyQueue, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
    }

    private async Task OnReportAsync(object sender, BasicDeliverEventArgs delivery)
    {
        WorkerReport report;
        try
        {
            report = RabbitMqConnection.Deserialize<WorkerReport>(delivery.Body);
        }
        catch (JsonException ex)
        {
            LogBadReport(logger, ex.Message);
            return;
        }
        if (!Apply(report) && !report.IsFinal)
            await queue.CancelEverywhereAsync(report.JobId).ConfigureAwait(false);
    }

    /// <summary>Applies a report to its job; false when the job is unknown or already final (the report is discarded).</summary>
    public bool Apply(WorkerReport report)
    {
        if (store.Find(report.JobId) is not { IsFinal: false } job)
            return false;
        switch (report.Kind)
        {
            case "started":
                job.MarkRunning(report.TotalSteps, report.Worker);
                break;
            case "progress":
                job.ReportProgress(report.Step, report.TotalSteps, report.Preview);
                break;
            case "succeeded" when report.Images is { Count: > 0 } images && report.Infotexts is { } infotexts && infotexts.Count == images.Count:
                job.Succeed(images, infotexts, report.Seed ?? 0);
                break;
            case "failed":
                job.Fail(report.Error ?? "the worker gave no reason");
                break;
            case "cancelled":
                job.Cancelled(report.Error ?? "cancelled on the worker");
                break;
            default:
                LogBadReport(logger, $"job {report.JobId}: a '{report.Kind}' report from {report.Worker} that this front end does not know");
                return true;
        }
        if (job.IsFinal)
        {
            // The front end's metrics count each job once, when its one result is stored (workers count their runs).
            string outcome = job.State.ToString().ToLowerInvariant();
            metrics.JobLatency.Record((DateTimeOffset.UtcNow - job.Created).TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
            metrics.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        }
        return true;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true })
            await _channel.CloseAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null)
            await _channel.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "a worker report was ignored: {Reason}")]
    private static partial void LogBadReport(ILogger logger, string reason);
}
