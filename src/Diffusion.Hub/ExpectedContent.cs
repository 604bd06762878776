namespace Diffusion.Hub;

/// <summary>What a file must be once downloaded: its size and hash as the source published them.</summary>
/// <param name="Size">Bytes, when published.</param>
/// <param name="Sha256">Lower-case hex SHA-256 (hub LFS files, Civitai, a URL given with one).</param>
/// <param name="GitBlobSha1">Lower-case hex git blob id (the hub's small non-LFS files; needs <paramref name="Size"/>).</param>
internal readonly record struct ExpectedContent(long? Size, string? Sha256, string? GitBlobSha1);
