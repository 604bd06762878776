using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Randomness;

public sealed class TorchCpuRandomSourceTests
{
    public static TheoryData<ulong, string> TorchSequences => RandomReference.SequencesOf("torch");

    [Theory]
    [MemberData(nameof(TorchSequences))]
    public void Successive_draws_match_torch_randn_after_manual_seed(ulong seed, string sequence)
    {
        // Reference: torch.manual_seed(seed); torch.randn(shape) per draw (random_reference.json).
        RandomReferenceCase reference = RandomReference.Find("torch", seed, sequence);
        var source = new TorchCpuRandomSource(seed);
        for (int i = 0; i < reference.Draws.Count; i++)
        {
            RandomReferenceDraw draw = reference.Draws[i];
            var values = new float[draw.Count];
            source.NextStandardNormal(values);
            RandomReference.AssertMatches(draw, values, 1e-6, $"torch seed {seed} {sequence} draw {i} [{string.Join('x', draw.Shape)}]");
        }
    }

    [Fact]
    public void Seed_zero_starts_with_the_well_known_torch_values()
    {
        // torch.manual_seed(0); torch.randn(1, 4, 64, 64).flatten()[:4]
        var values = new float[16384];
        new TorchCpuRandomSource(0).NextStandardNormal(values);
        Assert.Equal(-1.1258398f, values[0], 1e-7f);
        Assert.Equal(-1.1523602f, values[1], 1e-7f);
        Assert.Equal(-0.2505786f, values[2], 1e-7f);
        Assert.Equal(-0.4338788f, values[3], 1e-7f);
    }

    [Fact]
    public void A_seed_zero_latent_is_bit_identical_to_torch()
    {
        // torch_seed0_1x4x64x64.f32: the whole torch.randn(1, 4, 64, 64) after torch.manual_seed(0), AVX2 kernel.
        float[] expected = RandomReference.LoadFull("torch_seed0_1x4x64x64.f32");
        var actual = new float[expected.Length];
        new TorchCpuRandomSource(0).NextStandardNormal(actual);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"element {i}: {actual[i]:R}, torch {expected[i]:R}");
    }

    [Fact]
    public void Only_the_low_32_bits_of_the_seed_matter_as_in_torch()
    {
        // torch.manual_seed(2**33 + 5) and torch.manual_seed(5) give the same stream (mt19937 takes seed & 0xffffffff).
        var high = new float[100];
        var low = new float[100];
        new TorchCpuRandomSource((1UL << 33) + 5).NextStandardNormal(high);
        new TorchCpuRandomSource(5).NextStandardNormal(low);
        Assert.Equal(low, high);
    }

    [Fact]
    public void A_small_draw_returns_the_cached_partner_of_the_previous_small_draw()
    {
        // torch caches r*sin(theta) of its scalar Box-Muller in the generator: randn(1), randn(1) == randn(2).
        var oneAtATime = new float[2];
        var source = new TorchCpuRandomSource(42);
        source.NextStandardNormal(oneAtATime.AsSpan(0, 1));
        source.NextStandardNormal(oneAtATime.AsSpan(1, 1));
        var together = new float[2];
        new TorchCpuRandomSource(42).NextStandardNormal(together);
        Assert.Equal(together, oneAtATime);
    }

    [Fact]
    public void Sixteen_elements_and_fifteen_elements_take_different_paths()
    {
        // randn(15) is the scalar double path; randn(16) is normal_fill: their first values differ.
        var fifteen = new float[15];
        var sixteen = new float[16];
        new TorchCpuRandomSource(0).NextStandardNormal(fifteen);
        new TorchCpuRandomSource(0).NextStandardNormal(sixteen);
        Assert.NotEqual(fifteen[0], sixteen[0]);
        Assert.Equal(-1.1258398f, sixteen[0], 1e-7f);
    }

    [Fact]
    public void An_empty_draw_consumes_nothing()
    {
        var source = new TorchCpuRandomSource(7);
        source.NextStandardNormal(Span<float>.Empty);
        var afterEmpty = new float[32];
        source.NextStandardNormal(afterEmpty);
        var fresh = new float[32];
        new TorchCpuRandomSource(7).NextStandardNormal(fresh);
        Assert.Equal(fresh, afterEmpty);
    }
}
