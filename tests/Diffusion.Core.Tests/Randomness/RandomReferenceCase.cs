namespace Diffusion.Core.Tests.Randomness;

/// <summary>
/// A freshly seeded reference generator (<c>torch</c> or <c>numpy</c>) and the successive draws it
/// returned for one named sequence of shapes, or the error the reference raised for the seed.
/// </summary>
internal sealed record RandomReferenceCase(
    string Generator,
    ulong Seed,
    string? Sequence,
    IReadOnlyList<RandomReferenceDraw> Draws,
    string? Error);
