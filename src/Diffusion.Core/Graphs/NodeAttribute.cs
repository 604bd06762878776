using Diffusion.Core.Graphs.Proto;

namespace Diffusion.Core.Graphs;

/// <summary>One attribute of a node (an integer, a float, a string, a list of integers or a tensor), as the operator defines it.</summary>
internal sealed class NodeAttribute
{
    private readonly AttributeProto _proto;

    private NodeAttribute(AttributeProto proto) => _proto = proto;

    public static NodeAttribute Int(string name, long value) => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });

    public static NodeAttribute Float(string name, float value) => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });

    public static NodeAttribute String(string name, string value)
        => new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) });

    public static NodeAttribute Ints(string name, params long[] values)
    {
        var proto = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        proto.Ints.AddRange(values);
        return new NodeAttribute(proto);
    }

    /// <summary>A one-element float32 tensor attribute (ConstantOfShape's fill value).</summary>
    public static NodeAttribute FloatTensor(string name, float value)
    {
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.Add(1);
        tensor.FloatData.Add(value);
        return new NodeAttribute(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = tensor });
    }

    internal AttributeProto ToProto() => _proto.Clone();
}
