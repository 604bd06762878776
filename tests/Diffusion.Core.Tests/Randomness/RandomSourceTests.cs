using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Randomness;

public sealed class RandomSourceTests
{
    [Theory]
    [InlineData(RandomSourceKind.Torch, typeof(TorchCpuRandomSource))]
    [InlineData(RandomSourceKind.Numpy, typeof(NumpyRandomSource))]
    [InlineData(RandomSourceKind.Fast, typeof(FastRandomSource))]
    public void Create_returns_the_source_of_the_kind(RandomSourceKind kind, Type expectedType)
    {
        Assert.IsType(expectedType, RandomSource.Create(kind, 42));
    }

    [Fact]
    public void Created_sources_draw_the_same_values_as_constructed_ones()
    {
        var created = new float[64];
        var constructed = new float[64];
        RandomSource.Create(RandomSourceKind.Torch, 42).NextStandardNormal(created);
        new TorchCpuRandomSource(42).NextStandardNormal(constructed);
        Assert.Equal(constructed, created);

        RandomSource.Create(RandomSourceKind.Numpy, 42).NextStandardNormal(created);
        new NumpyRandomSource(42u).NextStandardNormal(constructed);
        Assert.Equal(constructed, created);

        RandomSource.Create(RandomSourceKind.Fast, 42).NextStandardNormal(created);
        new FastRandomSource(42).NextStandardNormal(constructed);
        Assert.Equal(constructed, created);
    }

    [Fact]
    public void Numpy_with_a_seed_of_2_to_the_32_or_more_is_an_invalid_option()
    {
        var error = Assert.Throws<InvalidOptionException>(() => RandomSource.Create(RandomSourceKind.Numpy, 1UL << 32));
        Assert.Equal("Seed", error.OptionName);
    }

    [Fact]
    public void Torch_and_Fast_accept_any_64_bit_seed()
    {
        var values = new float[16];
        RandomSource.Create(RandomSourceKind.Torch, ulong.MaxValue).NextStandardNormal(values);
        RandomSource.Create(RandomSourceKind.Fast, ulong.MaxValue).NextStandardNormal(values);
        Assert.All(values, value => Assert.True(float.IsFinite(value)));
    }

    [Fact]
    public void An_undefined_kind_is_an_invalid_option()
    {
        var error = Assert.Throws<InvalidOptionException>(() => RandomSource.Create((RandomSourceKind)99, 1));
        Assert.Equal("RandomSource", error.OptionName);
        Assert.Contains("99", error.Message);
    }

    [Theory]
    [InlineData(RandomSourceKind.Torch, 16384)]
    [InlineData(RandomSourceKind.Torch, 60)]
    [InlineData(RandomSourceKind.Torch, 3)]
    [InlineData(RandomSourceKind.Numpy, 16384)]
    [InlineData(RandomSourceKind.Fast, 16384)]
    [InlineData(RandomSourceKind.Fast, 60)]
    public void Drawing_allocates_nothing(RandomSourceKind kind, int length)
    {
        IRandomSource source = RandomSource.Create(kind, 1);
        var values = new float[length];
        source.NextStandardNormal(values); // warm up (JIT, tiering)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
            source.NextStandardNormal(values);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }
}
