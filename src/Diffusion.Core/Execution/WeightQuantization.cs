namespace Diffusion.Core.Execution;

/// <summary>
/// Weight-only quantisation of a built graph's linear layers at load (<see cref="SessionSettings.Quantization"/>).
/// </summary>
public enum WeightQuantization
{
    /// <summary>Weights stay float32 (the default).</summary>
    None,

    /// <summary>8-bit integers per block of 32 input features with a float32 scale and an 8-bit zero point (about 1.16 bytes a weight).</summary>
    Int8,

    /// <summary>4-bit integers per block of 32 input features with a float32 scale and a 4-bit zero point (about 0.64 bytes a weight).</summary>
    Int4,
}
