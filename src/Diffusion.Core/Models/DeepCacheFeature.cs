namespace Diffusion.Core.Models;

/// <summary>
/// The feature a step-caching UNet pair passes from its full step to the cached steps after it (see
/// <see cref="Graphs.DeepCacheGraphs"/>): float32 [rows, channels, height, width] for one denoiser call's rows. Its size is
/// learnt from the first full run at a shape and the buffer is then reused, so steps allocate nothing.
/// </summary>
internal sealed class DeepCacheFeature
{
    /// <summary>The feature's values (empty until a full run has filled it).</summary>
    public float[] Values { get; private set; } = [];

    /// <summary>The feature's shape, [rows, channels, height, width]; empty until filled.</summary>
    public long[] Shape { get; private set; } = [];

    /// <summary>The call shape (rows, latent height, latent width) the feature was computed at.</summary>
    public (int Rows, int Height, int Width) CallShape { get; private set; }

    /// <summary>True once a full run at <see cref="CallShape"/> has written the feature.</summary>
    public bool IsFilled { get; internal set; }

    /// <summary>Whether the buffer fits a call of <paramref name="rows"/> rows at a latent size, so a full run writes into it directly.</summary>
    public bool Fits(int rows, int height, int width) => Shape.Length == 4 && CallShape == (rows, height, width);

    /// <summary>Sizes the buffer for a call shape from the feature shape a full run returned; called once per call shape.</summary>
    internal Span<float> Resize(int rows, int height, int width, ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long dimension in shape)
            count *= dimension;
        if (shape.Length != 4 || shape[0] != rows || count > Array.MaxLength)
            throw new DiffusionException($"the step-cache feature has shape [{string.Join(", ", shape.ToArray())}], not [{rows}, channels, height, width].");
        if (Values.Length != count)
            Values = new float[count];
        Shape = shape.ToArray();
        CallShape = (rows, height, width);
        return Values;
    }
}
