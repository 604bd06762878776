namespace Diffusion.Core.Tests;

/// <summary>The committed fuzzing corpus (fuzz/corpus): inputs AFL++ found that once crashed a parser are kept there as regression-*.</summary>
internal static class FuzzCorpus
{
    /// <summary>The regression inputs of <paramref name="target"/>, as absolute paths.</summary>
    public static IEnumerable<string> Regressions(string target)
        => Directory.EnumerateFiles(Folder(target), "regression-*").Order(StringComparer.Ordinal);

    /// <summary>fuzz/corpus/<paramref name="target"/> of this repository.</summary>
    public static string Folder(string target)
    {
        DirectoryInfo root = SharedData.RepositoryRoot() ?? throw new DirectoryNotFoundException("repository root not found");
        return Path.Combine(root.FullName, "fuzz", "corpus", target);
    }
}
