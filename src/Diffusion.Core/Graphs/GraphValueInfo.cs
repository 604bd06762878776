using Diffusion.Core.Graphs.Proto;

namespace Diffusion.Core.Graphs;

/// <summary>A graph input's or output's declaration: name, element type, and each dimension fixed or symbolic.</summary>
internal static class GraphValueInfo
{
    /// <summary>A dimension is a fixed size (<see cref="int"/> or <see cref="long"/>) or a symbolic name (<see cref="string"/>).</summary>
    public static ValueInfoProto Create(string name, TensorProto.Types.DataType type, object[] dimensions)
    {
        var shape = new TensorShapeProto();
        foreach (object dimension in dimensions)
        {
            shape.Dim.Add(dimension switch
            {
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                int size => new TensorShapeProto.Types.Dimension { DimValue = size },
                long size => new TensorShapeProto.Types.Dimension { DimValue = size },
                _ => throw new ArgumentException($"A dimension is a size or a symbolic name, got {dimension}.", nameof(dimensions)),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
