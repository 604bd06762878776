namespace Diffusion.Core.Execution;

/// <summary>
/// The ONNX Runtime execution providers Diffusion.Core knows how to configure. Each one needs its own
/// native ONNX Runtime package in the application (see <see cref="ExecutionProvider.NativePackage"/>).
/// </summary>
public enum ExecutionProviderKind
{
    /// <summary>The default CPU provider (<c>CPUExecutionProvider</c>), in every ONNX Runtime build.</summary>
    Cpu,

    /// <summary>NVIDIA CUDA (<c>CUDAExecutionProvider</c>), from <c>Microsoft.ML.OnnxRuntime.Gpu</c>.</summary>
    Cuda,

    /// <summary>DirectML on Windows (<c>DmlExecutionProvider</c>), from <c>Microsoft.ML.OnnxRuntime.DirectML</c>.</summary>
    DirectML,

    /// <summary>Apple CoreML (<c>CoreMLExecutionProvider</c>), in the macOS/iOS builds of <c>Microsoft.ML.OnnxRuntime</c>.</summary>
    CoreML,

    /// <summary>NVIDIA TensorRT (<c>TensorrtExecutionProvider</c>, CUDA as fallback), from <c>Microsoft.ML.OnnxRuntime.Gpu</c>.</summary>
    TensorRT,

    /// <summary>Intel OpenVINO (<c>OpenVINOExecutionProvider</c>), from <c>Intel.ML.OnnxRuntime.OpenVino</c>.</summary>
    OpenVino,

    /// <summary>AMD ROCm (<c>ROCMExecutionProvider</c>), from an ONNX Runtime build made with ROCm support.</summary>
    Rocm,
}
