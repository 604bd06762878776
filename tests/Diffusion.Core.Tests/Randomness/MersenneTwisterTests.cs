using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Randomness;

public sealed class MersenneTwisterTests
{
    [Fact]
    public void The_default_seed_gives_the_published_outputs()
    {
        // mt19937ar.c / C++ std::mt19937 with seed 5489: first output 3499211612, 10000th output 4123659995.
        var engine = new MersenneTwister(5489);
        Assert.Equal(3499211612u, engine.NextUInt32());
        for (int i = 2; i < 10000; i++)
            engine.NextUInt32();
        Assert.Equal(4123659995u, engine.NextUInt32());
    }

    [Fact]
    public void Fill_continues_the_same_stream_as_single_draws()
    {
        var single = new MersenneTwister(42);
        var expected = new uint[2000];
        for (int i = 0; i < expected.Length; i++)
            expected[i] = single.NextUInt32();

        var bulk = new MersenneTwister(42);
        var actual = new uint[2000];
        bulk.Fill(actual.AsSpan(0, 7));
        actual[7] = bulk.NextUInt32();
        bulk.Fill(actual.AsSpan(8, 1300));
        bulk.Fill(actual.AsSpan(1308));
        Assert.Equal(expected, actual);
    }
}
