using Diffusion.Core.Execution;

namespace Diffusion.Core;

/// <summary>
/// The requested ONNX Runtime execution provider is not in the native ONNX Runtime the application
/// loaded (its package is missing, or its drivers/libraries are). <see cref="NativePackage"/> names the
/// NuGet package to add. Raised before any model is loaded.
/// </summary>
public sealed class ExecutionProviderUnavailableException : DiffusionException
{
    /// <summary>Creates the exception for <paramref name="provider"/>; <paramref name="detail"/> says what was found.</summary>
    public ExecutionProviderUnavailableException(ExecutionProvider provider, string detail)
        : base(FormatMessage(provider, detail))
    {
        Provider = provider;
        NativePackage = provider.NativePackage;
    }

    /// <summary>Creates the exception for <paramref name="provider"/> with the ONNX Runtime error that revealed it.</summary>
    public ExecutionProviderUnavailableException(ExecutionProvider provider, string detail, Exception innerException)
        : base(FormatMessage(provider, detail), innerException)
    {
        Provider = provider;
        NativePackage = provider.NativePackage;
    }

    /// <summary>The provider that was requested.</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>The NuGet package that brings this provider (see <see cref="ExecutionProvider.NativePackage"/>).</summary>
    public string NativePackage { get; }

    private static string FormatMessage(ExecutionProvider provider, string detail)
    {
        ArgumentNullException.ThrowIfNull(provider);
        string advice = provider.Kind switch
        {
            ExecutionProviderKind.Cpu => $"Add a package reference to {provider.NativePackage} in the application.",
            ExecutionProviderKind.Cuda or ExecutionProviderKind.TensorRT =>
                $"Add a package reference to {provider.NativePackage} (or {provider.NativePackage}.Linux / {provider.NativePackage}.Windows) instead of Microsoft.ML.OnnxRuntime, and install the CUDA and cuDNN versions that ONNX Runtime release requires.",
            ExecutionProviderKind.Rocm => "Use an ONNX Runtime build made with ROCm support (there is no official NuGet package).",
            _ => $"Add a package reference to {provider.NativePackage} instead of Microsoft.ML.OnnxRuntime.",
        };
        return $"Execution provider '{provider}' ({provider.OrtProviderName}) is not available: {detail} {advice}";
    }
}
