namespace Diffusion.Core.Graphs;

/// <summary>Element types a checkpoint's floating-point weights come in.</summary>
internal enum WeightElementType
{
    Float32,
    Float16,
    BFloat16,

    /// <summary>safetensors <c>F8_E4M3</c> (torch <c>float8_e4m3fn</c>), ONNX FLOAT8E4M3FN.</summary>
    Float8E4M3Fn,

    /// <summary>safetensors <c>F8_E5M2</c> (torch <c>float8_e5m2</c>), ONNX FLOAT8E5M2.</summary>
    Float8E5M2,
}
