namespace Diffusion.Core;

/// <summary>
/// A model folder or one of its files is missing, unreadable or malformed. <see cref="Path"/> names the
/// file or folder at fault.
/// </summary>
public sealed class ModelLoadException : DiffusionException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public ModelLoadException(string path, string message) : base($"{path}: {message}") => Path = path;

    /// <summary>Creates the exception for <paramref name="path"/> with the error that caused it.</summary>
    public ModelLoadException(string path, string message, Exception innerException)
        : base($"{path}: {message}", innerException) => Path = path;

    /// <summary>The file or folder that could not be loaded.</summary>
    public string Path { get; }
}
