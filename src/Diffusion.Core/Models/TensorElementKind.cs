namespace Diffusion.Core.Models;

/// <summary>The element type of a model input or output, as far as Diffusion.Core cares.</summary>
public enum TensorElementKind
{
    /// <summary>32-bit IEEE float (<c>tensor(float)</c>).</summary>
    Float32,

    /// <summary>16-bit IEEE float (<c>tensor(float16)</c>), as fp16 exports use.</summary>
    Float16,

    /// <summary>32-bit signed integer (<c>tensor(int32)</c>).</summary>
    Int32,

    /// <summary>64-bit signed integer (<c>tensor(int64)</c>).</summary>
    Int64,

    /// <summary>Any other type (double, bfloat16, bool, string, non-tensor values…).</summary>
    Other,
}
