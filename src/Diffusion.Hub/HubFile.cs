namespace Diffusion.Hub;

/// <summary>One file of a hub repository's listing.</summary>
/// <param name="Path">Its path in the repository.</param>
/// <param name="Size">Bytes.</param>
/// <param name="BlobId">What the cache names its blob by: the SHA-256 of an LFS file, else the git blob id.</param>
/// <param name="IsLfs">True for an LFS file (BlobId is its SHA-256).</param>
internal sealed record HubFile(string Path, long Size, string BlobId, bool IsLfs);
