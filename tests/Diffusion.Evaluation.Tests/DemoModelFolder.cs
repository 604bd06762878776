namespace Diffusion.Evaluation.Tests;

/// <summary>
/// Locates the built-in demo model, <c>models/demo-shapes</c> at the repository root (or <c>DIFFUSION_DEMO_MODEL</c>).
/// Tests that need it call <see cref="Require"/>: with <c>CI=true</c> a missing model fails the test; elsewhere the
/// test is skipped with a message saying what is missing.
/// </summary>
internal static class DemoModelFolder
{
    private static readonly Lazy<string?> s_path = new(Find);

    /// <summary>True when running under CI (<c>CI=true</c>).</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The model folder, or null when it is absent.</summary>
    public static string? Path => s_path.Value;

    /// <summary>Returns the model folder, or skips/fails the calling test when it is missing.</summary>
    public static string Require()
    {
        if (Path is { } path)
            return path;
        string message = "The demo model was not found (models/demo-shapes at the repository root, or the folder DIFFUSION_DEMO_MODEL names).";
        if (IsCi)
            throw new InvalidOperationException(message + " It must exist when CI=true.");
        Assert.Skip(message);
        return null!; // unreachable: Assert.Skip throws
    }

    /// <summary>
    /// Returns the trainer's results for this model (<c>tools/train-demo-model/eval_results.json</c>, committed with it),
    /// or skips/fails like <see cref="Require"/> when it is missing.
    /// </summary>
    public static string RequireTrainerResults()
    {
        string? root = RepositoryRoot();
        string? path = root is null ? null : System.IO.Path.Combine(root, "tools", "train-demo-model", "eval_results.json");
        if (path is not null && File.Exists(path))
            return path;
        string message = "tools/train-demo-model/eval_results.json (the demo model's own evaluation) was not found.";
        if (IsCi)
            throw new InvalidOperationException(message + " It must exist when CI=true.");
        Assert.Skip(message);
        return null!; // unreachable: Assert.Skip throws
    }

    private static string? RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Diffusion.Core.sln")))
            dir = dir.Parent;
        return dir?.FullName;
    }

    private static string? Find()
    {
        string? env = Environment.GetEnvironmentVariable("DIFFUSION_DEMO_MODEL");
        if (!string.IsNullOrEmpty(env))
            return IsModel(env) ? System.IO.Path.GetFullPath(env) : null;
        string? root = RepositoryRoot();
        if (root is null)
            return null;
        string candidate = System.IO.Path.Combine(root, "models", "demo-shapes");
        return IsModel(candidate) ? candidate : null;
    }

    private static bool IsModel(string folder) => File.Exists(System.IO.Path.Combine(folder, "model_index.json"));
}
