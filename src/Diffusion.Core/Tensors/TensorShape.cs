namespace Diffusion.Core.Tensors;

/// <summary>Small shape arithmetic shared by the model wrappers.</summary>
internal static class TensorShape
{
    /// <summary>The number of elements of a tensor of <paramref name="shape"/> (1 for a scalar), checked for overflow.</summary>
    public static int ElementCount(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long dimension in shape)
        {
            if (dimension < 0)
                throw new ArgumentOutOfRangeException(nameof(shape), dimension, "A tensor dimension cannot be negative.");
            count = checked(count * dimension);
        }
        return checked((int)count);
    }

    /// <summary>Checks that a caller buffer holds exactly the elements of <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentException">The length differs; the message names the tensor and the shape expected.</exception>
    public static void RequireLength(int actualLength, ReadOnlySpan<long> shape, string tensorName, string parameterName)
    {
        int expected = ElementCount(shape);
        if (actualLength != expected)
            throw new ArgumentException($"Buffer for '{tensorName}' has {actualLength} elements; shape [{string.Join(",", shape.ToArray())}] needs {expected}.", parameterName);
    }
}
