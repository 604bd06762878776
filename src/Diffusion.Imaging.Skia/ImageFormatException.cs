using Diffusion.Core;

namespace Diffusion.Imaging.Skia;

/// <summary>
/// An image file or buffer could not be read or written: the file is missing or unreadable, its bytes are not a
/// supported image format, or the data is truncated or corrupt. <see cref="Path"/> names the file when there is one.
/// </summary>
public sealed class ImageFormatException : DiffusionException
{
    /// <summary>Creates the exception for <paramref name="path"/> (<see langword="null"/> for in-memory data).</summary>
    public ImageFormatException(string? path, string message)
        : base(path is null ? message : $"{path}: {message}") => Path = path;

    /// <summary>Creates the exception for <paramref name="path"/> with the error that caused it.</summary>
    public ImageFormatException(string? path, string message, Exception innerException)
        : base(path is null ? message : $"{path}: {message}", innerException) => Path = path;

    /// <summary>The file at fault, or <see langword="null"/> when the image came from memory.</summary>
    public string? Path { get; }
}
