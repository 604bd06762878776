using Diffusion.CommandLine;

namespace Diffusion.Samples;

/// <summary>Where the samples find their default model and pictures when run from the repository.</summary>
internal static class SampleDefaults
{
    /// <summary>The common defaults: the built-in demo model (else ../shared's tiny-sd) and its example prompt.</summary>
    public static GenerationArguments Common { get; } = new()
    {
        Model = DefaultModel(),
        Prompt = "a large red circle on a blue background, center",
    };

    /// <summary>A file of ../shared next to the repository (e.g. <c>images/astronaut.png</c>).</summary>
    public static string SharedFile(string relative)
    {
        DirectoryInfo? root = RepositoryRoot();
        return Path.Combine(root?.Parent?.FullName ?? ".", "shared", relative);
    }

    /// <summary>The repository root (the folder with Diffusion.Core.sln), or null.</summary>
    private static DirectoryInfo? RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Diffusion.Core.sln")))
            dir = dir.Parent;
        return dir;
    }

    /// <summary>The built-in demo model in the repository, else the shared tiny-sd test model.</summary>
    private static string DefaultModel()
    {
        DirectoryInfo? dir = RepositoryRoot();
        if (dir is null)
            return "models/demo-shapes";
        string demo = Path.Combine(dir.FullName, "models", "demo-shapes");
        if (File.Exists(Path.Combine(demo, "model_index.json")))
            return demo;
        return Path.Combine(dir.Parent?.FullName ?? dir.FullName, "shared", "models", "tiny-sd");
    }
}
