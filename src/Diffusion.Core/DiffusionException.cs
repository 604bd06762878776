namespace Diffusion.Core;

/// <summary>
/// Base type of every error Diffusion.Core raises on purpose. Catch this to handle all of the
/// library's own failures; errors from ONNX Runtime itself surface as <c>OnnxRuntimeException</c>
/// wrapped in one of the derived types where the library can say which model failed.
/// </summary>
public class DiffusionException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public DiffusionException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public DiffusionException(string message, Exception innerException) : base(message, innerException) { }
}
