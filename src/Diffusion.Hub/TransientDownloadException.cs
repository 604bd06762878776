using System.Net;

namespace Diffusion.Hub;

/// <summary>A failure worth retrying (429, 5xx, 408, a dropped or stalled connection); retried, then mapped to a <see cref="ModelDownloadException"/>.</summary>
internal sealed class TransientDownloadException(string message, HttpStatusCode? status = null, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public HttpStatusCode? Status { get; } = status;

    public TimeSpan? RetryAfter { get; } = retryAfter;
}
