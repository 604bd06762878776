using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Randomness;

public sealed class NumpyRandomSourceTests
{
    public static TheoryData<ulong, string> NumpySequences => RandomReference.SequencesOf("numpy");

    [Theory]
    [MemberData(nameof(NumpySequences))]
    public void Successive_draws_match_numpy_RandomState_randn(ulong seed, string sequence)
    {
        // Reference: rs = np.random.RandomState(seed); rs.randn(*shape).astype(np.float32) per draw.
        RandomReferenceCase reference = RandomReference.Find("numpy", seed, sequence);
        var source = new NumpyRandomSource(seed);
        for (int i = 0; i < reference.Draws.Count; i++)
        {
            RandomReferenceDraw draw = reference.Draws[i];
            var values = new float[draw.Count];
            source.NextStandardNormal(values);
            RandomReference.AssertMatches(draw, values, 1e-6, $"numpy seed {seed} {sequence} draw {i} [{string.Join('x', draw.Shape)}]");
        }
    }

    [Fact]
    public void Seed_zero_starts_with_the_well_known_numpy_value()
    {
        // np.random.RandomState(0).randn() == 1.764052345967664
        var value = new float[1];
        new NumpyRandomSource(0u).NextStandardNormal(value);
        Assert.Equal(1.7640524f, value[0], 1e-7f);
    }

    [Fact]
    public void A_seed_zero_latent_is_bit_identical_to_numpy()
    {
        // numpy_seed0_1x4x64x64.f32: np.random.RandomState(0).randn(1, 4, 64, 64).astype(np.float32).
        float[] expected = RandomReference.LoadFull("numpy_seed0_1x4x64x64.f32");
        var actual = new float[expected.Length];
        new NumpyRandomSource(0u).NextStandardNormal(actual);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"element {i}: {actual[i]:R}, numpy {expected[i]:R}");
    }

    [Fact]
    public void A_seed_numpy_rejects_is_rejected_with_the_option_named()
    {
        // np.random.RandomState(8589934597) raises "ValueError: Seed must be between 0 and 2**32 - 1".
        RandomReferenceCase reference = RandomReference.Find("numpy", 8589934597, null);
        Assert.StartsWith("ValueError: Seed must be between 0 and 2**32 - 1", reference.Error);

        var error = Assert.Throws<InvalidOptionException>(() => new NumpyRandomSource(8589934597UL));
        Assert.Equal("Seed", error.OptionName);
        Assert.Contains("8589934597", error.Message);
        Assert.Contains("2^32 - 1", error.Message);
    }

    [Fact]
    public void The_largest_numpy_seed_is_accepted_through_the_64_bit_constructor()
    {
        var viaUlong = new float[8];
        var viaUint = new float[8];
        new NumpyRandomSource((ulong)uint.MaxValue).NextStandardNormal(viaUlong);
        new NumpyRandomSource(uint.MaxValue).NextStandardNormal(viaUint);
        Assert.Equal(viaUint, viaUlong);
    }

    [Fact]
    public void The_second_value_of_a_polar_pair_carries_over_to_the_next_draw()
    {
        // legacy_gauss keeps the pair's other value in the RandomState: randn(1), randn(2) == randn(3).
        var split = new float[3];
        var source = new NumpyRandomSource(42u);
        source.NextStandardNormal(split.AsSpan(0, 1));
        source.NextStandardNormal(split.AsSpan(1, 2));
        var together = new float[3];
        new NumpyRandomSource(42u).NextStandardNormal(together);
        Assert.Equal(together, split);
    }
}
