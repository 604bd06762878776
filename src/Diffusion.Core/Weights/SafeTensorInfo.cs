namespace Diffusion.Core.Weights;

/// <summary>
/// One tensor listed in a <c>.safetensors</c> header: its key, element type as written in the file
/// (<c>F32</c>, <c>F16</c>, <c>BF16</c>, ...), shape, and where its bytes lie in the data section.
/// </summary>
public sealed class SafeTensorInfo
{
    internal SafeTensorInfo(string name, string dtype, long[] shape, long elementCount, long dataStart, long dataEnd)
    {
        Name = name;
        DType = dtype;
        ShapeArray = shape;
        ElementCount = elementCount;
        DataStart = dataStart;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor's key in the header.</summary>
    public string Name { get; }

    /// <summary>The element type as the header spells it, e.g. <c>F16</c>.</summary>
    public string DType { get; }

    /// <summary>The tensor's dimensions (empty for a scalar).</summary>
    public IReadOnlyList<long> Shape => ShapeArray;

    /// <summary>The number of elements (the product of <see cref="Shape"/>; 1 for a scalar).</summary>
    public long ElementCount { get; }

    internal long[] ShapeArray { get; }

    /// <summary>Start of the tensor's bytes, relative to the data section.</summary>
    internal long DataStart { get; }

    /// <summary>End (exclusive) of the tensor's bytes, relative to the data section.</summary>
    internal long DataEnd { get; }
}
