namespace Diffusion.Core;

/// <summary>
/// An ONNX model loads but does not declare the inputs or outputs the library needs (a missing or
/// misnamed tensor, an unsupported element type or rank). <see cref="ModelPath"/> names the file and
/// <see cref="TensorName"/> the tensor at fault when there is one.
/// </summary>
public sealed class ModelContractException : DiffusionException
{
    /// <summary>Creates the exception.</summary>
    public ModelContractException(string modelPath, string? tensorName, string message)
        : base(tensorName is null ? $"{modelPath}: {message}" : $"{modelPath}: tensor '{tensorName}': {message}")
    {
        ModelPath = modelPath;
        TensorName = tensorName;
    }

    /// <summary>The <c>.onnx</c> file whose contract is wrong.</summary>
    public string ModelPath { get; }

    /// <summary>The input or output at fault, or <see langword="null"/> when the whole model is.</summary>
    public string? TensorName { get; }
}
