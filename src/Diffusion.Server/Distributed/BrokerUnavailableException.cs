namespace Diffusion.Server.Distributed;

/// <summary>The RabbitMQ broker cannot be reached or refused an operation; the API answers 503 with this message.</summary>
public sealed class BrokerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
