namespace Diffusion.Core.Randomness;

/// <summary>Which generator turns a seed into noise; see <see cref="RandomSource.Create"/>.</summary>
public enum RandomSourceKind
{
    /// <summary>
    /// <see cref="TorchCpuRandomSource"/>: reproduces <c>torch.manual_seed(seed)</c> then successive
    /// <c>torch.randn(shape, dtype=torch.float32)</c> on the CPU (x86-64), as diffusers' torch pipelines
    /// draw with a CPU generator. Any 64-bit seed; torch uses its low 32 bits.
    /// </summary>
    Torch,

    /// <summary>
    /// <see cref="NumpyRandomSource"/>: reproduces successive
    /// <c>np.random.RandomState(seed).randn(*shape).astype(np.float32)</c>, as diffusers' ONNX pipelines
    /// draw. Seeds from 0 to 2^32 − 1 only.
    /// </summary>
    Numpy,

    /// <summary>
    /// <see cref="FastRandomSource"/>: xoshiro256** with a vectorized Box-Muller transform. Matches no
    /// reference; deterministic across platforms and .NET versions. Any 64-bit seed.
    /// </summary>
    Fast,
}
