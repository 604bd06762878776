using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>Replays recorded noise tensors (torch.randn draws saved by the reference generator) in order.</summary>
internal sealed class ReplayNoiseSource(IReadOnlyList<float[]> draws) : IRandomSource
{
    public int Draws { get; private set; }

    public void NextStandardNormal(Span<float> destination)
    {
        Assert.True(Draws < draws.Count, $"the scheduler drew more noise tensors than diffusers ({draws.Count})");
        float[] next = draws[Draws++];
        Assert.Equal(next.Length, destination.Length);
        next.CopyTo(destination);
    }
}
