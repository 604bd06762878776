namespace Diffusion.Core.Weights;

/// <summary>Where an initializer's bytes live.</summary>
internal enum OnnxDataStorage
{
    /// <summary><c>raw_data</c> inside the model file.</summary>
    Raw,
    /// <summary>Packed <c>float_data</c> inside the model file.</summary>
    FloatData,
    /// <summary>Packed <c>int32_data</c> inside the model file (how ONNX stores float16 when not raw).</summary>
    Int32Data,
    /// <summary>A side file named by <c>external_data</c> (<c>weights.pb</c>, <c>model.onnx_data</c>).</summary>
    External,
}
