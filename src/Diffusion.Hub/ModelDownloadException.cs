namespace Diffusion.Hub;

/// <summary>A download that failed: names the source (never a token), what went wrong and what to do.</summary>
public sealed class ModelDownloadException : Exception
{
    /// <summary>Creates the error.</summary>
    public ModelDownloadException(string source, DownloadFailure failure, string message, Exception? innerException = null)
        : base($"{source}: {message}", innerException)
    {
        Source = source;
        Failure = failure;
    }

    /// <summary>The model source or file the error is about, as the user wrote it.</summary>
    public new string Source { get; }

    /// <summary>What kind of failure this is.</summary>
    public DownloadFailure Failure { get; }
}
