namespace Diffusion.Hub;

/// <summary>A model on disk after a download (or found in the cache).</summary>
/// <param name="Source">Where it came from.</param>
/// <param name="Path">The folder to load (a hub snapshot, or its subfolder) or, for a single file, the file.</param>
/// <param name="Revision">The hub commit id, or null for other sources.</param>
/// <param name="Files">Every file of the model, with its size and hash.</param>
public sealed record DownloadedModel(ModelSource Source, string Path, string? Revision, IReadOnlyList<DownloadedFile> Files);

/// <summary>One file of a downloaded model.</summary>
/// <param name="RelativePath">Its path in the source (repository path, or the file name).</param>
/// <param name="LocalPath">Where it is on disk.</param>
/// <param name="Size">Bytes.</param>
/// <param name="Sha256">Lower-case hex SHA-256 when known (hub LFS files, Civitai and URL downloads), else null.</param>
/// <param name="Downloaded">False when the cache already held it.</param>
public sealed record DownloadedFile(string RelativePath, string LocalPath, long Size, string? Sha256, bool Downloaded);
