namespace Diffusion.Core.Tests.Pipelines;

/// <summary>A temporary copy of tiny-sd (or another model folder; model files linked, not copied) with some files replaced.</summary>
internal static class TinySdCopy
{
    public static string Create(params (string RelativePath, string Content)[] replacements) => CreateFrom(TinySd.Folder, replacements);

    /// <summary>A temporary copy of <paramref name="source"/> (files linked) with some files replaced.</summary>
    public static string CreateFrom(string source, params (string RelativePath, string Content)[] replacements)
    {
        string target = Path.Combine(Path.GetTempPath(), "diffusion-core-tests", Guid.NewGuid().ToString("N"));
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            try
            {
                File.CreateSymbolicLink(destination, file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                File.Copy(file, destination); // no symlink privilege (Windows without developer mode)
            }
        }
        foreach ((string relative, string content) in replacements)
        {
            string destination = Path.Combine(target, relative.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Delete(destination);
            File.WriteAllText(destination, content);
        }
        return target;
    }
}
