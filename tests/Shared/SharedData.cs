namespace Diffusion.Testing;

/// <summary>
/// Locates <c>../shared</c> (next to the repository). Tests that need it call <see cref="Require"/>:
/// with <c>CI=true</c> a missing folder fails the test; elsewhere the test is skipped with a message
/// naming what is missing.
/// </summary>
internal static class SharedData
{
    private static readonly Lazy<string?> s_root = new(FindRoot);

    /// <summary>The shared folder, or null when it cannot be found.</summary>
    public static string? Root => s_root.Value;

    /// <summary>True when running under CI (<c>CI=true</c>).</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Returns the absolute path of <paramref name="relative"/> inside shared/, or skips/fails when it is missing.</summary>
    public static string Require(string relative)
    {
        string? root = Root;
        string? path = root is null ? null : Path.Combine(root, relative);
        if (path is not null && (File.Exists(path) || Directory.Exists(path)))
            return path;
        string message = $"Shared test data '{relative}' not found (looked for ../shared next to the repository; set DIFFUSION_SHARED to override).";
        if (IsCi)
            throw new InvalidOperationException(message + " It must exist when CI=true.");
        Assert.Skip(message);
        return null!; // unreachable: Assert.Skip throws
    }

    /// <summary>The repository root: the folder above the test binaries that holds Diffusion.Core.sln, or null.</summary>
    public static DirectoryInfo? RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Diffusion.Core.sln")))
            dir = dir.Parent;
        return dir;
    }

    private static string? FindRoot()
    {
        string? env = Environment.GetEnvironmentVariable("DIFFUSION_SHARED");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env))
            return Path.GetFullPath(env);
        // The repository root, then ../shared.
        DirectoryInfo? dir = RepositoryRoot();
        if (dir?.Parent is null)
            return null;
        string candidate = Path.Combine(dir.Parent.FullName, "shared");
        return Directory.Exists(candidate) ? candidate : null;
    }
}
