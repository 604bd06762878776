namespace Diffusion.Core.Tests.Randomness;

/// <summary>
/// One reference tensor from <c>TestData/randomness/random_reference.json</c>: either every value
/// (<see cref="Values"/>, small draws) or the first and last 64 values and every <see cref="Stride"/>-th one.
/// </summary>
internal sealed record RandomReferenceDraw(
    int[] Shape,
    int Count,
    double Sum,
    double Mean,
    float[]? Values,
    float[]? First,
    float[]? Last,
    int Stride,
    float[]? Strided);
