namespace Diffusion.Hub;

/// <summary>
/// huggingface_hub's cache layout, so files it downloaded are reused here and the reverse:
/// <c>models--OWNER--NAME/blobs/BLOB_ID</c> (the content, named by its SHA-256 or git blob id),
/// <c>snapshots/COMMIT/PATH</c> (relative symbolic links to the blobs) and <c>refs/REVISION</c> (the commit a branch or
/// tag pointed at when last fetched).
/// </summary>
internal sealed class HubCacheLayout(string cacheRoot)
{
    public string Root { get; } = cacheRoot;

    public string RepositoryFolder(string repository) => Path.Combine(Root, "models--" + repository.Replace("/", "--", StringComparison.Ordinal));

    public string BlobPath(string repository, string blobId) => Path.Combine(RepositoryFolder(repository), "blobs", blobId);

    public string SnapshotFolder(string repository, string commit) => Path.Combine(RepositoryFolder(repository), "snapshots", commit);

    public string SnapshotPath(string repository, string commit, string relativePath) =>
        Path.Combine(SnapshotFolder(repository, commit), relativePath.Replace('/', Path.DirectorySeparatorChar));

    private string RefPath(string repository, string revision) =>
        Path.Combine(RepositoryFolder(repository), "refs", revision.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>The commit <paramref name="revision"/> pointed at when last fetched, or null.</summary>
    public string? ReadRef(string repository, string revision)
    {
        string path = RefPath(repository, revision);
        if (!File.Exists(path) || new FileInfo(path).Length > 256)
            return null;
        string commit = File.ReadAllText(path).Trim();
        return commit.Length == 40 && commit.All(Uri.IsHexDigit) ? commit : null;
    }

    /// <summary>Records the commit of a branch or tag (written beside, then moved over, so a reader never sees half a line).</summary>
    public void WriteRef(string repository, string revision, string commit)
    {
        string path = RefPath(repository, revision);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(temporary, commit);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// Points the snapshot entry of <paramref name="relativePath"/> at its blob with a relative symbolic link, as
    /// huggingface_hub does; where links cannot be made (Windows without developer mode) the blob is copied, as it does too.
    /// </summary>
    public void LinkSnapshot(string repository, string commit, string relativePath, string blobId)
    {
        string entry = SnapshotPath(repository, commit, relativePath);
        string blob = BlobPath(repository, blobId);
        string folder = Path.GetDirectoryName(entry)!;
        Directory.CreateDirectory(folder);
        string target = Path.GetRelativePath(folder, blob);
        var existing = new FileInfo(entry);
        if (existing.LinkTarget == target)
            return;
        string temporary = entry + ".tmp-" + Environment.ProcessId;
        try
        {
            File.Delete(temporary);
            File.CreateSymbolicLink(temporary, target);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, temporary, overwrite: true);
        }
        File.Move(temporary, entry, overwrite: true);
    }
}
