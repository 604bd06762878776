namespace Diffusion.Core.Graphs;

/// <summary>
/// A weight source that has every tensor the architecture asks for, in the shape it asks: a graph built from it has the
/// architecture's parameter count and no usable weights (its external data points at a file that does not exist).
/// </summary>
internal sealed class ShapeOnlyWeightSource : IWeightSource
{
    private const string NoFile = "no-weights.safetensors";

    public string Description => "(shapes only)";

    public WeightReference? Find(string name, long[] expectedShape)
    {
        long count = 1;
        foreach (long dimension in expectedShape)
            count *= dimension;
        return new WeightReference(name, NoFile, WeightElementType.Float32, expectedShape, 0, count * sizeof(float));
    }
}
