namespace Diffusion.Server;

/// <summary>What a server process does.</summary>
public enum ServerRole
{
    /// <summary>APIs, the in-process queue and a worker in one process.</summary>
    Standalone,

    /// <summary>APIs only: jobs go to a RabbitMQ queue; results come back from workers and are stored by job id.</summary>
    FrontEnd,

    /// <summary>Takes jobs from the RabbitMQ queue, runs them on the loaded model and publishes the results.</summary>
    Worker,
}
