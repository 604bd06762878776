using System.Collections.Concurrent;
using System.Text;
using Diffusion.Server.Jobs;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Diffusion.Server.Distributed;

/// <summary>
/// A front end's queue: a job is published (persistent, with its priority, replies to this front end's queue) to the
/// broker's durable job queue, where any worker takes it. <see cref="Count"/> is this front end's jobs not finished yet,
/// bounded by the queue depth. A cancelled job's id goes to every worker. Jobs run elsewhere: nothing is dequeued here.
/// </summary>
internal sealed class RabbitMqJobQueue(RabbitMqConnection broker, IOptions<ServerOptions> options) : IJobQueue, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, GenerationJob> _outstanding = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private IChannel? _channel;

    public int Count => _outstanding.Count;

    /// <summary>The queue this front end's workers reply to.</summary>
    public string ReplyQueue => RabbitMqNames.RepliesPrefix + broker.InstanceName;

    /// <exception cref="BrokerUnavailableException">The broker cannot be reached or did not confirm the job.</exception>
    public bool TryEnqueue(GenerationJob job)
    {
        if (_outstanding.Count >= options.Value.MaxQueueDepth || !_outstanding.TryAdd(job.Id, job))
            return false;
        var properties = new BasicProperties
        {
            Persistent = true,
            MessageId = job.Id,
            ReplyTo = ReplyQueue,
            Priority = (byte)Math.Clamp(job.Request.Priority, 0, RabbitMqNames.MaxPriority),
            ContentType = "application/json",
        };
        try
        {
            // The API answers once the broker holds the job (publisher confirmation), so an accepted job is not lost.
            PublishAsync("", RabbitMqNames.Jobs, RabbitMqConnection.Serialize(new JobMessage(job.Id, job.Request)), properties)
                .GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is BrokerUnavailableException or OperationInterruptedException or AlreadyClosedException or PublishException or IOException)
        {
            _outstanding.TryRemove(job.Id, out _);
            throw ex as BrokerUnavailableException ?? new BrokerUnavailableException($"the RabbitMQ broker did not take the job: {ex.Message}", ex);
        }
        _ = job.Completion.ContinueWith(_ => _outstanding.TryRemove(job.Id, out GenerationJob? _), TaskScheduler.Default);
        job.CancellationToken.Register(() => _ = CancelEverywhereAsync(job.Id));
        return true;
    }

    /// <summary>Tells every worker to stop or skip this job (best effort: a worker that starts it later is told again on its first report).</summary>
    public async Task CancelEverywhereAsync(string jobId)
    {
        try
        {
            await PublishAsync(RabbitMqNames.Cancel, "", Encoding.UTF8.GetBytes(jobId), new BasicProperties()).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is BrokerUnavailableException or OperationInterruptedException or AlreadyClosedException or PublishException or IOException or ObjectDisposedException)
        {
            // The job is already final here; a worker that runs it anyway has its result discarded.
        }
    }

    public ValueTask<GenerationJob> DequeueAsync(CancellationToken cancellationToken) =>
        throw new NotSupportedException("a front end runs no jobs; its workers take them from RabbitMQ.");

    /// <summary>A job of this front end that no worker has reported on yet is final here at once (the cancel id reaches the workers).</summary>
    public bool TryRemove(GenerationJob job) => job.State == JobState.Queued && _outstanding.ContainsKey(job.Id);

    public IReadOnlyList<GenerationJob> Drain() => []; // the jobs wait in the broker for the workers

    private async Task PublishAsync(string exchange, string routingKey, ReadOnlyMemory<byte> body, BasicProperties properties)
    {
        await _publishing.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_channel is not { IsOpen: true })
            {
                if (_channel is not null)
                    await _channel.DisposeAsync().ConfigureAwait(false);
                _channel = null;
                _channel = await broker.CreateChannelAsync(CancellationToken.None).ConfigureAwait(false);
            }
            await _channel.BasicPublishAsync(exchange, routingKey, mandatory: false, properties, body).ConfigureAwait(false);
        }
        finally
        {
            _publishing.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null)
            await _channel.DisposeAsync().ConfigureAwait(false);
        _publishing.Dispose();
    }
}
