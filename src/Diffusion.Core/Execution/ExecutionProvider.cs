using System.Globalization;

namespace Diffusion.Core.Execution;

/// <summary>
/// Which ONNX Runtime execution provider runs a model, and on which device. Diffusion.Core depends only
/// on ONNX Runtime's managed package; the application adds the native package this provider needs
/// (<see cref="NativePackage"/>). Requesting a provider whose native package is missing fails with
/// <see cref="ExecutionProviderUnavailableException"/> before any model loads.
/// </summary>
/// <remarks>
/// Cpu, Cuda and DirectML are wired through ONNX Runtime's dedicated <c>AppendExecutionProvider_*</c>
/// calls; TensorRT (with CUDA as fallback for the nodes TensorRT does not take), ROCm and OpenVINO through
/// theirs; CoreML through the generic <c>AppendExecutionProvider("CoreML", …)</c>. The CPU provider is
/// always present and takes the nodes another provider does not support.
/// </remarks>
public sealed record ExecutionProvider
{
    /// <summary>Creates a provider of <paramref name="kind"/> on device <paramref name="deviceId"/>.</summary>
    /// <exception cref="InvalidOptionException"><paramref name="deviceId"/> is negative.</exception>
    public ExecutionProvider(ExecutionProviderKind kind, int deviceId = 0)
    {
        if (!Enum.IsDefined(kind))
            throw new InvalidOptionException("ExecutionProvider.Kind", $"unknown execution provider kind {(int)kind}.");
        if (deviceId < 0)
            throw new InvalidOptionException("ExecutionProvider.DeviceId", $"must be 0 or more, was {deviceId}.");
        Kind = kind;
        DeviceId = deviceId;
    }

    /// <summary>The CPU provider, available in every ONNX Runtime build.</summary>
    public static ExecutionProvider Cpu { get; } = new(ExecutionProviderKind.Cpu);

    /// <summary>The CUDA provider on GPU <paramref name="deviceId"/> (needs <c>Microsoft.ML.OnnxRuntime.Gpu</c>, CUDA and cuDNN).</summary>
    public static ExecutionProvider Cuda(int deviceId = 0) => new(ExecutionProviderKind.Cuda, deviceId);

    /// <summary>The DirectML provider on DXGI adapter <paramref name="adapterIndex"/> (Windows, needs <c>Microsoft.ML.OnnxRuntime.DirectML</c>).</summary>
    public static ExecutionProvider DirectML(int adapterIndex = 0) => new(ExecutionProviderKind.DirectML, adapterIndex);

    /// <summary>Which provider this is.</summary>
    public ExecutionProviderKind Kind { get; }

    /// <summary>
    /// The device index: the CUDA/TensorRT/ROCm GPU ordinal or the DirectML adapter index. Ignored by the
    /// CPU, CoreML and OpenVINO providers (OpenVINO picks its default device).
    /// </summary>
    public int DeviceId { get; }

    /// <summary>
    /// The NuGet package the application must reference so that ONNX Runtime has this provider:
    /// <c>Microsoft.ML.OnnxRuntime</c> (CPU, and CoreML on Apple platforms), <c>Microsoft.ML.OnnxRuntime.Gpu</c>
    /// (CUDA and TensorRT; <c>.Gpu.Linux</c> / <c>.Gpu.Windows</c> are its per-OS halves),
    /// <c>Microsoft.ML.OnnxRuntime.DirectML</c>, <c>Intel.ML.OnnxRuntime.OpenVino</c>. ROCm has no
    /// official package; the text says so.
    /// </summary>
    public string NativePackage => Kind switch
    {
        ExecutionProviderKind.Cpu => "Microsoft.ML.OnnxRuntime",
        ExecutionProviderKind.Cuda => "Microsoft.ML.OnnxRuntime.Gpu",
        ExecutionProviderKind.TensorRT => "Microsoft.ML.OnnxRuntime.Gpu",
        ExecutionProviderKind.DirectML => "Microsoft.ML.OnnxRuntime.DirectML",
        ExecutionProviderKind.CoreML => "Microsoft.ML.OnnxRuntime",
        ExecutionProviderKind.OpenVino => "Intel.ML.OnnxRuntime.OpenVino",
        ExecutionProviderKind.Rocm => "an ONNX Runtime build with ROCm (no official NuGet package)",
        _ => throw new InvalidOperationException($"Unknown execution provider kind {Kind}."),
    };

    /// <summary>
    /// The name ONNX Runtime uses for this provider, as <c>OrtEnv.GetAvailableProviders()</c> lists it
    /// (e.g. <c>CUDAExecutionProvider</c>, <c>DmlExecutionProvider</c>).
    /// </summary>
    public string OrtProviderName => Kind switch
    {
        ExecutionProviderKind.Cpu => "CPUExecutionProvider",
        ExecutionProviderKind.Cuda => "CUDAExecutionProvider",
        ExecutionProviderKind.DirectML => "DmlExecutionProvider",
        ExecutionProviderKind.CoreML => "CoreMLExecutionProvider",
        ExecutionProviderKind.TensorRT => "TensorrtExecutionProvider",
        ExecutionProviderKind.OpenVino => "OpenVINOExecutionProvider",
        ExecutionProviderKind.Rocm => "ROCMExecutionProvider",
        _ => throw new InvalidOperationException($"Unknown execution provider kind {Kind}."),
    };

    /// <summary>
    /// Parses a provider the way a user types it: a name (<c>cpu</c>, <c>cuda</c>, <c>directml</c> or
    /// <c>dml</c>, <c>coreml</c>, <c>tensorrt</c> or <c>trt</c>, <c>openvino</c>, <c>rocm</c>; case-insensitive),
    /// optionally followed by <c>:</c> and a device index (<c>cuda:1</c>, <c>dml:0</c>).
    /// </summary>
    /// <exception cref="InvalidOptionException">The text names no known provider or has a bad device index.</exception>
    public static ExecutionProvider Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        int colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        string name = colon < 0 ? trimmed : trimmed[..colon];
        int deviceId = 0;
        if (colon >= 0 && !int.TryParse(trimmed.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out deviceId))
            throw new InvalidOptionException("ExecutionProvider", $"'{text}' has a device index that is not a non-negative integer (expected e.g. 'cuda:1').");
        ExecutionProviderKind? kind = name.ToLowerInvariant() switch
        {
            "cpu" => ExecutionProviderKind.Cpu,
            "cuda" => ExecutionProviderKind.Cuda,
            "directml" or "dml" => ExecutionProviderKind.DirectML,
            "coreml" => ExecutionProviderKind.CoreML,
            "tensorrt" or "trt" => ExecutionProviderKind.TensorRT,
            "openvino" => ExecutionProviderKind.OpenVino,
            "rocm" => ExecutionProviderKind.Rocm,
            _ => null,
        };
        if (kind is null)
            throw new InvalidOptionException("ExecutionProvider", $"'{text}' is not a known execution provider (expected cpu, cuda, directml/dml, coreml, tensorrt/trt, openvino or rocm, optionally with ':<device>').");
        return new ExecutionProvider(kind.Value, deviceId);
    }

    /// <summary>The provider in the form <see cref="Parse"/> reads, e.g. <c>cuda:1</c> or <c>cpu</c>.</summary>
    public override string ToString()
    {
        string name = Kind switch
        {
            ExecutionProviderKind.Cpu => "cpu",
            ExecutionProviderKind.Cuda => "cuda",
            ExecutionProviderKind.DirectML => "directml",
            ExecutionProviderKind.CoreML => "coreml",
            ExecutionProviderKind.TensorRT => "tensorrt",
            ExecutionProviderKind.OpenVino => "openvino",
            _ => "rocm",
        };
        bool hasDevice = Kind is ExecutionProviderKind.Cuda or ExecutionProviderKind.DirectML or ExecutionProviderKind.TensorRT or ExecutionProviderKind.Rocm;
        return hasDevice ? $"{name}:{DeviceId.ToString(CultureInfo.InvariantCulture)}" : name;
    }
}
