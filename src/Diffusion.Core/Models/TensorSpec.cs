using System.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Models;

/// <summary>
/// One input or output of an ONNX model as its metadata declares it: name, element type and shape,
/// with <c>-1</c> for a dynamic axis and that axis' symbolic name (e.g. <c>batch</c>) where the
/// exporter gave one.
/// </summary>
public sealed class TensorSpec
{
    /// <summary>Creates a spec. <paramref name="symbolicDimensions"/> has one entry per axis (empty for unnamed ones).</summary>
    public TensorSpec(string name, TensorElementKind elementKind, IReadOnlyList<long> dimensions, IReadOnlyList<string> symbolicDimensions)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(dimensions);
        ArgumentNullException.ThrowIfNull(symbolicDimensions);
        if (symbolicDimensions.Count != dimensions.Count)
            throw new ArgumentException("One symbolic dimension name is needed per axis.", nameof(symbolicDimensions));
        Name = name;
        ElementKind = elementKind;
        Dimensions = dimensions;
        SymbolicDimensions = symbolicDimensions;
    }

    /// <summary>The tensor's name in the graph.</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public TensorElementKind ElementKind { get; }

    /// <summary>The declared shape; <c>-1</c> marks a dynamic axis. Empty for a 0-D (scalar) tensor.</summary>
    public IReadOnlyList<long> Dimensions { get; }

    /// <summary>The symbolic name of each axis (e.g. <c>batch</c>), or an empty string where the axis has none.</summary>
    public IReadOnlyList<string> SymbolicDimensions { get; }

    /// <summary>The number of axes (0 for a scalar).</summary>
    public int Rank => Dimensions.Count;

    /// <summary>The size of <paramref name="axis"/> when the model fixes it, else <see langword="null"/>.</summary>
    public int? GetFixedDimension(int axis)
    {
        long value = Dimensions[axis];
        return value > 0 && value <= int.MaxValue ? (int)value : null;
    }

    /// <summary>The shape as text, e.g. <c>float16[batch,4,64,64]</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(ElementKind switch
        {
            TensorElementKind.Float32 => "float32",
            TensorElementKind.Float16 => "float16",
            TensorElementKind.Int32 => "int32",
            TensorElementKind.Int64 => "int64",
            _ => "other",
        });
        text.Append('[');
        for (int axis = 0; axis < Dimensions.Count; axis++)
        {
            if (axis > 0)
                text.Append(',');
            if (Dimensions[axis] > 0)
                text.Append(Dimensions[axis]);
            else
                text.Append(SymbolicDimensions[axis].Length > 0 ? SymbolicDimensions[axis] : "?");
        }
        text.Append(']');
        return $"{Name}: {text}";
    }

    /// <summary>Reads a spec from ONNX Runtime's metadata for one input or output.</summary>
    internal static TensorSpec FromMetadata(string name, NodeMetadata metadata)
    {
        if (!metadata.IsTensor)
            return new TensorSpec(name, TensorElementKind.Other, Array.Empty<long>(), Array.Empty<string>());
        int[] dims = metadata.Dimensions;
        string[] symbolic = metadata.SymbolicDimensions;
        var dimensions = new long[dims.Length];
        var names = new string[dims.Length];
        for (int axis = 0; axis < dims.Length; axis++)
        {
            dimensions[axis] = dims[axis] > 0 ? dims[axis] : -1;
            names[axis] = axis < symbolic.Length ? symbolic[axis] ?? string.Empty : string.Empty;
        }
        TensorElementKind kind = metadata.ElementDataType switch
        {
            TensorElementType.Float => TensorElementKind.Float32,
            TensorElementType.Float16 => TensorElementKind.Float16,
            TensorElementType.Int32 => TensorElementKind.Int32,
            TensorElementType.Int64 => TensorElementKind.Int64,
            _ => TensorElementKind.Other,
        };
        return new TensorSpec(name, kind, dimensions, names);
    }
}
