using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// A random source that hands back recorded tensors in order: replays the noise diffusers' <c>randn_tensor</c>
/// drew in a reference run, and fails when a scheduler draws more, or a tensor of another size.
/// </summary>
internal sealed class ReplayRandomSource : IRandomSource
{
    private readonly IReadOnlyList<float[]> _draws;

    public ReplayRandomSource(IReadOnlyList<float[]> draws) => _draws = draws;

    /// <summary>How many tensors have been drawn so far.</summary>
    public int DrawCount { get; private set; }

    public void NextStandardNormal(Span<float> destination)
    {
        Assert.True(DrawCount < _draws.Count, $"The scheduler drew noise tensor #{DrawCount + 1}; diffusers drew only {_draws.Count}.");
        float[] draw = _draws[DrawCount++];
        Assert.Equal(draw.Length, destination.Length);
        draw.CopyTo(destination);
    }
}
