namespace Diffusion.CommandLine;

/// <summary>
/// Checks, before any model loads, that the images can be written where the command line says: a known image
/// extension and a folder that exists (or can be created) and accepts a new file.
/// </summary>
public static class OutputPath
{
    private static readonly string[] s_extensions = [".png", ".jpg", ".jpeg", ".webp"];

    /// <summary>Returns null when <paramref name="path"/> can be written, else the reason, naming the path.</summary>
    public static string? Check(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string extension = Path.GetExtension(path).ToLowerInvariant();
        if (Array.IndexOf(s_extensions, extension) < 0)
            return $"--output {path}: unknown image extension '{extension}' (use .png, .jpg, .jpeg or .webp).";
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception error) when (error is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return $"--output {path}: not a valid path ({error.Message}).";
        }
        if (Directory.Exists(full))
            return $"--output {path}: is a folder; give a file name such as {Path.Combine(path, "image.png")}.";
        string folder = Path.GetDirectoryName(full)!;
        string probe = Path.Combine(folder, $".diffusion-write-check-{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(folder);
            using (File.Create(probe, 1, FileOptions.DeleteOnClose))
            {
            }
            return null;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return $"--output {path}: cannot write in {folder} ({error.Message}).";
        }
    }
}
