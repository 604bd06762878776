namespace Diffusion.Hub;

/// <summary>How far one file's download is.</summary>
/// <param name="File">The file's path in the source (repository path or file name).</param>
/// <param name="BytesDone">Bytes on disk so far, including a resumed part.</param>
/// <param name="BytesTotal">The file's size when known.</param>
/// <param name="FromCache">True when the file was already in the cache and nothing was downloaded.</param>
public readonly record struct DownloadProgress(string File, long BytesDone, long? BytesTotal, bool FromCache = false);
