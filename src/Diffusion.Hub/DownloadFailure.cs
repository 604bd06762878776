namespace Diffusion.Hub;

/// <summary>Why a download failed, so an app can react (ask for a token, wait, report a bad file) without reading messages.</summary>
public enum DownloadFailure
{
    /// <summary>The server answered 401: a token is missing or wrong.</summary>
    Unauthorized,

    /// <summary>The server answered 403: the token has no access (a gated model whose terms were not accepted, a private repository).</summary>
    Forbidden,

    /// <summary>The server answered 404: no such repository, revision, file or model version.</summary>
    NotFound,

    /// <summary>The server kept answering 429 after every retry.</summary>
    RateLimited,

    /// <summary>The server or the network kept failing (5xx, dropped connections) after every retry.</summary>
    Unavailable,

    /// <summary>The downloaded bytes do not have the hash or size the source published; nothing was kept.</summary>
    IntegrityMismatch,

    /// <summary>The server's answer (a listing, a redirect, a length) is not what its API documents.</summary>
    BadResponse,

    /// <summary>Downloads are switched off (<c>HF_HUB_OFFLINE</c>) and the cache does not hold the model.</summary>
    NotInCache,

    /// <summary>The cache or the destination could not be written (disk full, permissions, another download holding a file).</summary>
    Storage,
}
