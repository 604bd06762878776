namespace Diffusion.Core.Randomness;

/// <summary>
/// Reproduces numpy's legacy generator: a source created with <c>seed</c> returns, call after call,
/// what successive <c>np.random.RandomState(seed).randn(*shape).astype(np.float32)</c> calls on one
/// <c>RandomState</c> return. diffusers' ONNX pipelines (<c>OnnxStableDiffusionPipeline</c>) draw their
/// latents and noise this way (<c>generator = np.random.RandomState(seed)</c>).
/// </summary>
/// <remarks>
/// <para>The engine is MT19937 seeded with <c>init_genrand(seed)</c>, which is what <c>RandomState</c>
/// does with an integer seed. Each sample is numpy's <c>legacy_gauss</c>: the polar Box-Muller method in
/// double precision over 53-bit uniforms, returning one value of each accepted pair and keeping the other
/// for the next sample, across calls. Values are computed in double and rounded to float once, as
/// <c>.astype(np.float32)</c> does.</para>
/// <para>numpy accepts seeds from 0 to 2^32 − 1 only; the <see cref="NumpyRandomSource(ulong)"/>
/// constructor rejects larger ones the way numpy does.</para>
/// <para>Not thread-safe: one instance per generation.</para>
/// </remarks>
public sealed class NumpyRandomSource : IRandomSource
{
    private const double Uniform53Scale = 1.0 / 9007199254740992.0; // 2^-53
    private const double High27Scale = 67108864.0; // 2^26

    private readonly MersenneTwister _engine;
    private double _cachedGauss;
    private bool _hasCachedGauss;

    /// <summary>Creates the state of <c>np.random.RandomState(seed)</c>.</summary>
    public NumpyRandomSource(uint seed)
    {
        Seed = seed;
        _engine = new MersenneTwister(seed);
    }

    /// <summary>Creates the state of <c>np.random.RandomState(seed)</c>, checking the seed as numpy does.</summary>
    /// <exception cref="InvalidOptionException"><paramref name="seed"/> is 2^32 or more, which numpy rejects.</exception>
    public NumpyRandomSource(ulong seed) : this(CheckSeed(seed)) { }

    /// <summary>The seed this source was created with.</summary>
    public uint Seed { get; }

    /// <inheritdoc />
    public void NextStandardNormal(Span<float> destination)
    {
        for (int i = 0; i < destination.Length; i++)
            destination[i] = (float)NextGauss();
    }

    private double NextGauss()
    {
        if (_hasCachedGauss)
        {
            _hasCachedGauss = false;
            return _cachedGauss;
        }
        double x1, x2, radiusSquared;
        do
        {
            x1 = 2.0 * NextDouble() - 1.0;
            x2 = 2.0 * NextDouble() - 1.0;
            radiusSquared = x1 * x1 + x2 * x2;
        }
        while (radiusSquared >= 1.0 || radiusSquared == 0.0);
        double factor = Math.Sqrt(-2.0 * Math.Log(radiusSquared) / radiusSquared);
        _cachedGauss = factor * x1;
        _hasCachedGauss = true;
        return factor * x2;
    }

    private double NextDouble()
    {
        // numpy's legacy_double: 27 high bits from one draw, 26 from the next.
        uint high = _engine.NextUInt32() >> 5;
        uint low = _engine.NextUInt32() >> 6;
        return (high * High27Scale + low) * Uniform53Scale;
    }

    private static uint CheckSeed(ulong seed) => seed <= uint.MaxValue
        ? (uint)seed
        : throw new InvalidOptionException("Seed",
            $"{seed} is not a valid seed for the numpy random source: numpy's RandomState accepts seeds from 0 to 2^32 - 1 (4294967295) only.");
}
