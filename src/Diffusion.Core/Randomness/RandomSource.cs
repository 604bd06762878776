namespace Diffusion.Core.Randomness;

/// <summary>Creates the <see cref="IRandomSource"/> for a <see cref="RandomSourceKind"/> and a seed.</summary>
public static class RandomSource
{
    /// <summary>
    /// Creates a freshly seeded source: <see cref="RandomSourceKind.Torch"/> gives a
    /// <see cref="TorchCpuRandomSource"/> (torch CPU <c>randn</c>), <see cref="RandomSourceKind.Numpy"/> a
    /// <see cref="NumpyRandomSource"/> (numpy <c>RandomState.randn</c>), <see cref="RandomSourceKind.Fast"/> a
    /// <see cref="FastRandomSource"/> (the library's own, matching no reference).
    /// </summary>
    /// <exception cref="InvalidOptionException">
    /// <paramref name="kind"/> is not a defined <see cref="RandomSourceKind"/>, or it is
    /// <see cref="RandomSourceKind.Numpy"/> and <paramref name="seed"/> is 2^32 or more (numpy rejects such seeds).
    /// </exception>
    public static IRandomSource Create(RandomSourceKind kind, ulong seed) => kind switch
    {
        RandomSourceKind.Torch => new TorchCpuRandomSource(seed),
        RandomSourceKind.Numpy => new NumpyRandomSource(seed),
        RandomSourceKind.Fast => new FastRandomSource(seed),
        _ => throw new InvalidOptionException("RandomSource",
            $"{(int)kind} is not a random source kind; expected Torch, Numpy or Fast."),
    };
}
