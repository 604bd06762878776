namespace Diffusion.Core.Adapters;

/// <summary>
/// A LoRA does not fit the model it is merged into: none of its modules exists in the model (a LoRA for another
/// architecture), or a module's factors have a shape other than the model's weight needs.
/// </summary>
public sealed class LoraMismatchException : DiffusionException
{
    /// <summary>Creates the exception.</summary>
    public LoraMismatchException(string loraPath, string? key, string modelPath, string message)
        : base(key is null ? $"{loraPath} -> {modelPath}: {message}" : $"{loraPath} -> {modelPath}: key '{key}': {message}")
    {
        LoraPath = loraPath;
        Key = key;
        ModelPath = modelPath;
    }

    /// <summary>The LoRA file.</summary>
    public string LoraPath { get; }

    /// <summary>The LoRA key at fault, or <see langword="null"/> when the whole file is.</summary>
    public string? Key { get; }

    /// <summary>The ONNX model the LoRA was merged into.</summary>
    public string ModelPath { get; }
}
