namespace Diffusion.Core.Randomness;

/// <summary>
/// A seeded source of standard normal samples. Every random draw of a pipeline (initial latents,
/// ancestral and SDE noise, image-to-image noise) comes from one instance, in call order, so a seed
/// reproduces a whole generation.
/// </summary>
/// <remarks>
/// One call fills one tensor: implementations that mirror a reference generator (torch, numpy)
/// reproduce what the reference returns for a tensor of <c>destination.Length</c> elements, which
/// for torch depends on the element count (tensors under 16 elements take a different path).
/// </remarks>
public interface IRandomSource
{
    /// <summary>Fills <paramref name="destination"/> with independent N(0, 1) samples, as one tensor.</summary>
    void NextStandardNormal(Span<float> destination);
}
