namespace Diffusion.Cli;

/// <summary>The built-in demo model: beside the installed tool, or in the repository when run from source.</summary>
internal static class DemoModel
{
    public static string Path
    {
        get
        {
            string beside = System.IO.Path.Combine(AppContext.BaseDirectory, "models", "demo-shapes");
            if (File.Exists(System.IO.Path.Combine(beside, "model_index.json")))
                return beside;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = System.IO.Path.Combine(dir.FullName, "models", "demo-shapes");
                if (File.Exists(System.IO.Path.Combine(candidate, "model_index.json")))
                    return candidate;
            }
            return beside; // missing: the loader names this path in its error
        }
    }
}
