using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Diffusion.Core;
using Diffusion.Server.Hosting;
using Diffusion.Server.Jobs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Diffusion.Server.Distributed;

/// <summary>
/// A worker process: takes one job at a time from the broker's job queue (prefetch 1, manual acknowledgement), runs it
/// with the <see cref="JobRunner"/>, sends its progress and result to the front end's reply queue, and acknowledges
/// the job only after the broker confirmed the result. A worker that dies mid-job never acknowledges it, so the broker
/// gives the job to another worker. Job ids on the cancel exchange stop the running job or skip a waiting one.
/// At shutdown it takes no new job and finishes the running one.
/// </summary>
internal sealed partial class RabbitMqWorker(
    RabbitMqConnection broker, JobRunner runner, IOptions<ServerOptions> options, ILogger<RabbitMqWorker> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, GenerationJob> _running = new(StringComparer.Ordinal);
    private readonly RecentIds _cancelled = new(capacity: 10_000);
    private readonly SemaphoreSlim _busy = new(1, 1);
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private IChannel? _control;
    private IChannel? _jobs;
    private IChannel? _replies;

    /// <summary>The job running now, if any (for <c>/ready</c>).</summary>
    public string? RunningJob => _running.Keys.FirstOrDefault();

    /// <summary>Connects and subscribes before the host reports started, so an unreachable broker stops the worker at start.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _control = await broker.CreateChannelAsync(cancellationToken).ConfigureAwait(false);
        QueueDeclareOk cancelQueue = await _control.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        await _control.QueueBindAsync(cancelQueue.QueueName, RabbitMqNames.Cancel, "", cancellationToken: cancellationToken).ConfigureAwait(false);
        var cancels = new AsyncEventingBasicConsumer(_control);
        cancels.ReceivedAsync += (_, delivery) =>
        {
            string id = Encoding.UTF8.GetString(delivery.Body.Span);
            _cancelled.Add(id);
            if (_running.TryGetValue(id, out GenerationJob? job))
                job.RequestCancel();
            return Task.CompletedTask;
        };
        await _control.BasicConsumeAsync(cancelQueue.QueueName, autoAck: true, cancels, cancellationToken).ConfigureAwait(false);

        _replies = await broker.CreateChannelAsync(cancellationToken).ConfigureAwait(false);
        _jobs = await broker.CreateChannelAsync(cancellationToken).ConfigureAwait(false);
        await _jobs.BasicQosAsync(prefetchSize: 0, prefetchCount: 1, global: false, cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IChannel jobs = _jobs!;
        var consumer = new AsyncEventingBasicConsumer(jobs);
        consumer.ReceivedAsync += (_, delivery) => HandleAsync(jobs, delivery);
        string tag = await jobs.BasicConsumeAsync(RabbitMqNames.Jobs, autoAck: false, consumer, stoppingToken).ConfigureAwait(false);
        LogReady(logger, broker.InstanceName);
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await jobs.BasicCancelAsync(tag, cancellationToken: CancellationToken.None).ConfigureAwait(false);
        await _busy.WaitAsync(CancellationToken.None).ConfigureAwait(false); // the running job finishes and is acknowledged
        _busy.Release();
        foreach (IChannel? channel in new[] { _jobs, _replies, _control })
            if (channel is { IsOpen: true })
                await channel.CloseAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private async Task HandleAsync(IChannel jobs, BasicDeliverEventArgs delivery)
    {
        await _busy.WaitAsync().ConfigureAwait(false);
        try
        {
            string? replyTo = delivery.BasicProperties.ReplyTo;
            JobMessage message;
            try
            {
                message = RabbitMqConnection.Deserialize<JobMessage>(delivery.Body);
                ArgumentException.ThrowIfNullOrWhiteSpace(message.JobId);
                ArgumentNullException.ThrowIfNull(message.Request);
            }
            catch (Exception ex) when (ex is JsonException or ArgumentException)
            {
                // Not a job this worker can read: dropped rather than handed to the next worker to fail the same way.
                LogBadJob(logger, delivery.BasicProperties.MessageId ?? "(no id)", ex.Message);
                await jobs.BasicRejectAsync(delivery.DeliveryTag, requeue: false).ConfigureAwait(false);
                return;
            }
            if (delivery.Redelivered)
                LogRedelivered(logger, message.JobId);
            await RunAsync(message, replyTo).ConfigureAwait(false);
            await jobs.BasicAckAsync(delivery.DeliveryTag, multiple: false).ConfigureAwait(false);
        }
        finally
        {
            _busy.Release();
        }
    }

    private async Task RunAsync(JobMessage message, string? replyTo)
    {
        using var job = new GenerationJob(message.JobId, message.Request, 0);
        if (_cancelled.Contains(job.Id))
            job.RequestCancel();
        _running[job.Id] = job;
        try
        {
            try
            {
                message.Request.Validate(options.Value); // this worker's limits may be tighter than the front end's
            }
            catch (InvalidOptionException ex)
            {
                job.Fail(ex.Message);
            }
            Task forwarding = ForwardAsync(job, replyTo);
            if (!job.IsFinal)
                await Task.Run(() => runner.Run(job)).ConfigureAwait(false);
            await forwarding.ConfigureAwait(false);
        }
        finally
        {
            _running.TryRemove(job.Id, out _);
        }
    }

    /// <summary>Sends every event of the job to the front end, in order; the final one carries the images and is confirmed.</summary>
    private async Task ForwardAsync(GenerationJob job, string? replyTo)
    {
        await foreach (JobEvent change in job.Subscribe().ReadAllAsync().ConfigureAwait(false))
        {
            if (change.Kind == "queued")
                continue;
            var report = change.Kind == "succeeded"
                ? new WorkerReport(job.Id, broker.InstanceName, change.Kind, change.Step, change.TotalSteps, Images: job.Images, Infotexts: job.Infotexts, Seed: job.Seed)
                : new WorkerReport(job.Id, broker.InstanceName, change.Kind, change.Step, change.TotalSteps, change.Preview, Error: change.Error);
            if (replyTo is null)
                continue; // nobody to tell; the job still runs so it is acknowledged (and not retried forever)
            await PublishAsync(replyTo, report).ConfigureAwait(false);
        }
    }

    private async Task PublishAsync(string replyTo, WorkerReport report)
    {
        await _publishing.WaitAsync().ConfigureAwait(false);
        try
        {
            var properties = new BasicProperties { ContentType = "application/json", Type = report.Kind };
            await _replies!.BasicPublishAsync("", replyTo, mandatory: false, properties, RabbitMqConnection.Serialize(report)).ConfigureAwait(false);
        }
        finally
        {
            _publishing.Release();
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _control?.Dispose();
        _jobs?.Dispose();
        _replies?.Dispose();
        _busy.Dispose();
        _publishing.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "worker {Worker} is taking jobs")]
    private static partial void LogReady(ILogger logger, string worker);

    [LoggerMessage(Level = LogLevel.Warning, Message = "job {JobId} is run again: the worker that had it stopped before finishing")]
    private static partial void LogRedelivered(ILogger logger, string jobId);

    [LoggerMessage(Level = LogLevel.Error, Message = "message {MessageId} on the job queue is not a job and was dropped: {Reason}")]
    private static partial void LogBadJob(ILogger logger, string messageId, string reason);
}
