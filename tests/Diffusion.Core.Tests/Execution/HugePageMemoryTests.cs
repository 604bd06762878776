using Diffusion.Core.Execution;

namespace Diffusion.Core.Tests.Execution;

public sealed class HugePageMemoryTests
{
    [Fact]
    public unsafe void A_block_is_aligned_to_two_mebibytes_writable_and_released_once()
    {
        var memory = HugePageMemory.Allocate(3L << 20);
        Assert.Equal(0, memory.Address % (2 << 20));
        Assert.Equal(3L << 20, memory.Length);
        var span = new Span<float>((void*)memory.Address, (3 << 20) / sizeof(float));
        span.Fill(1.5f);
        Assert.Equal(1.5f, span[^1]);
        memory.Dispose();
        memory.Dispose();
        Assert.Throws<ObjectDisposedException>(() => memory.Address);
        Assert.Throws<ArgumentOutOfRangeException>(() => HugePageMemory.Allocate(0));
    }
}
