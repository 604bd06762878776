using System.Text.RegularExpressions;

namespace Diffusion.Hub;

/// <summary>A Hugging Face hub model repository, at a revision (branch, tag or commit), optionally one subfolder of it.</summary>
/// <param name="Repository"><c>owner/name</c>.</param>
/// <param name="Revision">Branch, tag or commit; <c>main</c> when left out.</param>
/// <param name="Subfolder">Only the files under this folder (e.g. <c>unet</c>), or null for the whole repository.</param>
public sealed partial record HuggingFaceSource(string Repository, string Revision = "main", string? Subfolder = null) : ModelSource
{
    /// <inheritdoc />
    public override string ToString() =>
        $"hf:{Repository}{(Revision == "main" ? "" : "@" + Revision)}{(Subfolder is null ? "" : ":" + Subfolder)}";

    /// <summary>True when <see cref="Revision"/> is a full 40-digit commit id (no lookup of a branch is needed).</summary>
    public bool RevisionIsCommit => CommitId().IsMatch(Revision);

    internal static HuggingFaceSource ParseBody(string body)
    {
        string repository = body, revision = "main";
        string? subfolder = null;
        int colon = repository.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            subfolder = repository[(colon + 1)..].TrimEnd('/');
            repository = repository[..colon];
            if (subfolder.Length == 0 || !SafeRelativePath(subfolder))
                throw Bad(body, "the subfolder after ':' must be a relative path inside the repository (no '..', no leading '/')");
        }
        int at = repository.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            revision = repository[(at + 1)..];
            repository = repository[..at];
            if (!RevisionName().IsMatch(revision) || revision.Contains("..", StringComparison.Ordinal))
                throw Bad(body, "the revision after '@' must be a branch, tag or commit id (letters, digits, '.', '_', '-', '/')");
        }
        if (!RepositoryId().IsMatch(repository) || repository.Contains("--", StringComparison.Ordinal) || repository.Contains("..", StringComparison.Ordinal))
            throw Bad(body, "the repository must be owner/name (letters, digits, '-', '_', '.'; at most 96 characters each)");
        return new HuggingFaceSource(repository, revision, subfolder);
    }

    /// <summary>A path relative to a repository root with no way out of it.</summary>
    internal static bool SafeRelativePath(string path) =>
        path.Length > 0 && !path.StartsWith('/') && !path.Contains('\\', StringComparison.Ordinal) && !path.Contains('\0', StringComparison.Ordinal)
        && path.Split('/').All(part => part.Length > 0 && part != "." && part != "..");

    private static ArgumentException Bad(string body, string why) => new($"'hf:{body}': {why}.");

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")]
    private static partial Regex RepositoryId();

    [GeneratedRegex("^[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}$")]
    private static partial Regex RevisionName();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitId();
}
