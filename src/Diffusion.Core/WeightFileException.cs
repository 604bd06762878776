namespace Diffusion.Core;

/// <summary>
/// A weight file (a <c>.safetensors</c> LoRA or embedding, a pickle checkpoint, an ONNX initializer) is
/// malformed, truncated, of an unsupported kind, or holds a tensor the library cannot use.
/// <see cref="FilePath"/> names the file and <see cref="Key"/> the tensor at fault when there is one.
/// </summary>
public sealed class WeightFileException : DiffusionException
{
    /// <summary>Creates the exception for <paramref name="filePath"/> and, when known, the tensor <paramref name="key"/>.</summary>
    public WeightFileException(string filePath, string? key, string message)
        : base(key is null ? $"{filePath}: {message}" : $"{filePath}: tensor '{key}': {message}")
    {
        FilePath = filePath;
        Key = key;
    }

    /// <summary>The file at fault.</summary>
    public string FilePath { get; }

    /// <summary>The tensor (safetensors key, initializer name) at fault, or <see langword="null"/> when the whole file is.</summary>
    public string? Key { get; }
}
