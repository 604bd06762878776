using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Diffusion.Core.Randomness;

/// <summary>
/// Reproduces torch's default CPU generator: a source created with <c>seed</c> returns, call after
/// call, what <c>torch.manual_seed(seed)</c> followed by successive
/// <c>torch.randn(shape, dtype=torch.float32)</c> calls returns on an x86-64 CPU (one call per tensor,
/// <c>destination.Length</c> = the tensor's element count). This is the noise diffusers' torch pipelines
/// draw with <c>generator=torch.Generator("cpu").manual_seed(seed)</c>.
/// </summary>
/// <remarks>
/// <para>The engine is MT19937 seeded with the low 32 bits of the seed (torch truncates 64-bit seeds the
/// same way, so seeds 5 and 2^33 + 5 are the same stream).</para>
/// <para>Tensors of 16 elements or more take torch's <c>normal_fill</c> path: every element first gets a
/// uniform <c>(bits &amp; 0xFFFFFF) * 2^-24</c>, then each block of 16 becomes 8 Box-Muller pairs; when the
/// count is not a multiple of 16 the last 16 elements are drawn again and transformed again. The
/// transform reproduces <c>normal_fill_16_AVX2</c> (Cephes polynomials, not libm), which torch runs on every
/// x86-64 CPU with AVX2, AVX-512 ones included (torch does not dispatch <c>normal_stub</c> to its AVX-512
/// kernels), in GCC builds that fuse its multiply-adds. Torch without AVX2 (ARM, or
/// <c>ATEN_CPU_CAPABILITY=default</c>) uses libm's <c>logf</c>/<c>sinf</c>/<c>cosf</c> instead and differs in
/// about 40% of the values, by up to ~2e-6. torch's CUDA generator (Philox) is a different stream altogether.</para>
/// <para>Tensors of fewer than 16 elements take torch's scalar path: double-precision Box-Muller from
/// two 53-bit uniforms per pair, returning <c>r cos θ</c> and keeping <c>r sin θ</c> for the next small
/// draw, as torch caches it in the generator (large draws leave that cache alone).</para>
/// <para>Not thread-safe: one instance per generation.</para>
/// </remarks>
public sealed class TorchCpuRandomSource : IRandomSource
{
    // torch.randn switches from the scalar path to normal_fill at this many elements.
    private const int VectorizedFillMinimumLength = 16;

    private const float Uniform24Scale = 1f / (1 << 24);
    private const double Uniform53Scale = 1.0 / (1L << 53);
    private const ulong Uniform53Mask = (1UL << 53) - 1;

    private readonly MersenneTwister _engine;
    private double _cachedNormal;
    private bool _hasCachedNormal;

    /// <summary>Creates the generator state that <c>torch.manual_seed(seed)</c> leaves behind.</summary>
    /// <param name="seed">The seed; only its low 32 bits reach the engine, as in torch.</param>
    public TorchCpuRandomSource(ulong seed)
    {
        Seed = seed;
        _engine = new MersenneTwister((uint)seed);
    }

    /// <summary>The seed this source was created with.</summary>
    public ulong Seed { get; }

    /// <inheritdoc />
    public void NextStandardNormal(Span<float> destination)
    {
        if (destination.Length >= VectorizedFillMinimumLength)
            FillLarge(destination);
        else
            FillSmall(destination);
    }

    private void FillLarge(Span<float> destination)
    {
        FillUniform24(destination);
        CephesBoxMuller.TransformBlocks(destination);
        int remainder = destination.Length % CephesBoxMuller.BlockLength;
        if (remainder != 0)
        {
            Span<float> lastBlock = destination[^CephesBoxMuller.BlockLength..];
            FillUniform24(lastBlock);
            CephesBoxMuller.TransformBlocks(lastBlock);
        }
    }

    private void FillUniform24(Span<float> destination)
    {
        // The engine writes raw 32-bit words into the float storage, converted in place.
        Span<uint> words = MemoryMarshal.Cast<float, uint>(destination);
        _engine.Fill(words);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref uint start = ref MemoryMarshal.GetReference(words);
            for (; i <= words.Length - Vector256<uint>.Count; i += Vector256<uint>.Count)
            {
                Vector256<int> low24 = (Vector256.LoadUnsafe(ref start, (nuint)i) & Vector256.Create(0xFFFFFFu)).AsInt32();
                (Vector256.ConvertToSingle(low24) * Uniform24Scale).AsUInt32().StoreUnsafe(ref start, (nuint)i);
            }
        }
        for (; i < destination.Length; i++)
            destination[i] = (words[i] & 0xFFFFFF) * Uniform24Scale;
    }

    private void FillSmall(Span<float> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            if (_hasCachedNormal)
            {
                _hasCachedNormal = false;
                destination[i] = (float)_cachedNormal;
                continue;
            }
            double u1 = NextUniform53();
            double u2 = NextUniform53();
            double radius = Math.Sqrt(-2.0 * Math.Log(1.0 - u2));
            double theta = 2.0 * Math.PI * u1;
            _cachedNormal = radius * Math.Sin(theta);
            _hasCachedNormal = true;
            destination[i] = (float)(radius * Math.Cos(theta));
        }
    }

    private double NextUniform53()
    {
        // torch's random64(): the first 32-bit draw is the high word.
        ulong high = _engine.NextUInt32();
        ulong low = _engine.NextUInt32();
        return (((high << 32) | low) & Uniform53Mask) * Uniform53Scale;
    }
}
