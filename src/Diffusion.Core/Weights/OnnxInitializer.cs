using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Weights;

/// <summary>One initializer of an ONNX graph: name, dims, element type and the location of its bytes (never the bytes).</summary>
internal sealed class OnnxInitializer
{
    public OnnxInitializer(string name, long[] dims, TensorElementType elementType, OnnxDataStorage storage,
        string? externalLocation, long offset, long length)
    {
        Name = name;
        Dims = dims;
        ElementType = elementType;
        Storage = storage;
        ExternalLocation = externalLocation;
        Offset = offset;
        Length = length;
    }

    public string Name { get; }

    public long[] Dims { get; }

    /// <summary>ONNX <c>TensorProto.DataType</c>; ORT's enum uses the same numbers.</summary>
    public TensorElementType ElementType { get; }

    public OnnxDataStorage Storage { get; }

    /// <summary>The external file, relative to the model's folder, for <see cref="OnnxDataStorage.External"/>.</summary>
    public string? ExternalLocation { get; }

    /// <summary>Byte offset of the payload in the model file, or in the external file.</summary>
    public long Offset { get; }

    /// <summary>Byte length of the payload (-1 for external data without a <c>length</c> entry).</summary>
    public long Length { get; }

    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long d in Dims)
                count = checked(count * d);
            return count;
        }
    }
}
