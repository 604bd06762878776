using System.Text.Json;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Diffusion.Server.Distributed;

/// <summary>One connection to the broker per process, the shared topology declared once, and JSON message helpers.</summary>
internal sealed class RabbitMqConnection : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Uri _address;
    private IConnection? _connection;

    public RabbitMqConnection(IOptions<ServerOptions> options)
    {
        _address = new Uri(options.Value.RabbitMq ?? throw new InvalidOperationException("no RabbitMQ address configured."));
        InstanceName = options.Value.InstanceName;
    }

    /// <summary>This process's name in the broker (connection name, reply queue) and in worker reports.</summary>
    public string InstanceName { get; }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>A new channel (publisher confirmations on: a publish returns when the broker has the message).</summary>
    public async Task<IChannel> CreateChannelAsync(CancellationToken ct)
    {
        IConnection connection = await ConnectAsync(ct).ConfigureAwait(false);
        IChannel channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct)
            .ConfigureAwait(false);
        await channel.QueueDeclareAsync(RabbitMqNames.Jobs, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-max-priority"] = RabbitMqNames.MaxPriority }, cancellationToken: ct).ConfigureAwait(false);
        await channel.ExchangeDeclareAsync(RabbitMqNames.Cancel, ExchangeType.Fanout, durable: false, cancellationToken: ct).ConfigureAwait(false);
        return channel;
    }

    public static ReadOnlyMemory<byte> Serialize<T>(T message) => JsonSerializer.SerializeToUtf8Bytes(message, Json);

    public static T Deserialize<T>(ReadOnlyMemory<byte> body) =>
        JsonSerializer.Deserialize<T>(body.Span, Json) ?? throw new JsonException($"an empty {typeof(T).Name}.");

    /// <summary>The process's connection, opened on first use (the server opens it while building, before it listens).</summary>
    /// <exception cref="BrokerUnavailableException">The broker cannot be reached.</exception>
    public async Task<IConnection> ConnectAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_connection is { IsOpen: true })
                return _connection;
            var factory = new ConnectionFactory { Uri = _address, AutomaticRecoveryEnabled = true, ClientProvidedName = $"diffusion-server {InstanceName}" };
            try
            {
                _connection = await factory.CreateConnectionAsync(ct).ConfigureAwait(false);
            }
            catch (RabbitMQ.Client.Exceptions.BrokerUnreachableException ex)
            {
                Exception cause = ex;
                while (cause.InnerException is not null)
                    cause = cause.InnerException; // the socket's reason, e.g. "Connection refused"
                throw new BrokerUnavailableException($"the RabbitMQ broker at {_address.Host}:{_address.Port} cannot be reached: {cause.Message}", ex);
            }
            return _connection;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.CloseAsync().ConfigureAwait(false);
            _connection.Dispose();
        }
        _gate.Dispose();
    }
}
