namespace Diffusion.Hub;

/// <summary>A model the caches hold.</summary>
/// <param name="Source">How to name it again (<c>hf:owner/name</c>, <c>civitai:ID</c>; a URL download by its folder).</param>
/// <param name="Path">Its folder in the cache.</param>
/// <param name="Bytes">Disk space it takes (blobs once each; partial downloads included).</param>
/// <param name="Revisions">Hub refs (branch or tag → commit), or file names for single-file downloads.</param>
public sealed record CachedModel(string Source, string Path, long Bytes, IReadOnlyList<string> Revisions);
