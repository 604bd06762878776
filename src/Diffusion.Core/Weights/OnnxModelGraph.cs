using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Weights;

/// <summary>
/// The graph of one ONNX model as read by <see cref="OnnxWeightReader"/>: nodes, initializers (located, not
/// loaded) and graph input names, plus on-demand reading of one initializer's values.
/// </summary>
internal sealed class OnnxModelGraph
{
    private readonly byte[]? _graphBytes;
    private readonly string _externalFolder;
    private Dictionary<string, OnnxNode>? _producers;

    /// <param name="modelPath">The model file, or for a graph held in memory what messages call it.</param>
    /// <param name="nodes">The graph's nodes.</param>
    /// <param name="initializers">The initializers by name.</param>
    /// <param name="inputs">The graph input names.</param>
    /// <param name="graphBytes">The serialized model when it is held in memory (inline tensor data is read from it).</param>
    /// <param name="externalFolder">Where external data resolves (default: the model file's folder).</param>
    /// <param name="metadata">The model's <c>metadata_props</c>.</param>
    public OnnxModelGraph(string modelPath, List<OnnxNode> nodes, Dictionary<string, OnnxInitializer> initializers, List<string> inputs,
        byte[]? graphBytes = null, string? externalFolder = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Metadata = metadata ?? new Dictionary<string, string>();
        ModelPath = modelPath;
        Nodes = nodes;
        Initializers = initializers;
        Inputs = inputs;
        _graphBytes = graphBytes;
        _externalFolder = externalFolder ?? Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
    }

    public string ModelPath { get; }

    /// <summary>The model's <c>metadata_props</c> (key → value).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// The initializer a node input reads: the initializer of that name, or the one a <c>Cast</c> node converts into it
    /// (a graph built from a float16 or bfloat16 checkpoint keeps each weight in its stored type behind a Cast to float32).
    /// </summary>
    public bool TryGetWeight(string valueName, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OnnxInitializer? initializer)
    {
        if (Initializers.TryGetValue(valueName, out initializer))
            return true;
        _producers ??= BuildProducers();
        return _producers.TryGetValue(valueName, out OnnxNode? producer) && producer.OpType == "Cast" && producer.Inputs.Length == 1
            && Initializers.TryGetValue(producer.Inputs[0], out initializer);
    }

    private Dictionary<string, OnnxNode> BuildProducers()
    {
        var producers = new Dictionary<string, OnnxNode>(StringComparer.Ordinal);
        foreach (OnnxNode node in Nodes)
        {
            foreach (string output in node.Outputs)
                producers.TryAdd(output, node);
        }
        return producers;
    }

    public IReadOnlyList<OnnxNode> Nodes { get; }

    public IReadOnlyDictionary<string, OnnxInitializer> Initializers { get; }

    /// <summary>Graph input names (ONNX IR &lt; 4 lists initializers here too).</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>Reads a float32, float16, bfloat16 or float64 initializer converted to float32 (C order).</summary>
    /// <exception cref="WeightFileException">Unsupported element type, or the bytes are missing or of the wrong size.</exception>
    public float[] ReadAsFloat32(OnnxInitializer initializer)
    {
        int elementSize = initializer.ElementType switch
        {
            TensorElementType.Float => 4,
            TensorElementType.Float16 or TensorElementType.BFloat16 => 2,
            TensorElementType.Double => 8,
            _ => throw new WeightFileException(ModelPath, initializer.Name, $"element type {initializer.ElementType} is not a floating-point weight."),
        };
        int count = checked((int)initializer.ElementCount);
        var result = new float[count];
        if (initializer.Storage == OnnxDataStorage.Int32Data)
        {
            if (initializer.ElementType != TensorElementType.Float16 && initializer.ElementType != TensorElementType.BFloat16)
                throw new WeightFileException(ModelPath, initializer.Name, "int32_data holds a non-16-bit float type.");
            byte[] packed = ReadInline(initializer);
            var halves = new ushort[count];
            int position = 0;
            for (int i = 0; i < count; i++)
                halves[i] = (ushort)ReadVarint(packed, ref position, initializer);
            Convert16(initializer.ElementType, halves, result);
            return result;
        }

        long expected = (long)count * elementSize;
        byte[] bytes;
        if (initializer.Storage == OnnxDataStorage.External)
        {
            string location = initializer.ExternalLocation!;
            if (Path.IsPathRooted(location) || Array.IndexOf(location.Split('/', '\\'), "..") >= 0)
                throw new WeightFileException(ModelPath, initializer.Name, $"external data location '{location}' must be a path inside the model's folder.");
            string externalPath = Path.Combine(_externalFolder, location);
            if (!File.Exists(externalPath))
                throw new WeightFileException(externalPath, initializer.Name, "external data file not found (it must sit next to the model).");
            long length = initializer.Length < 0 ? expected : initializer.Length;
            bytes = ReadBytes(externalPath, initializer, initializer.Offset, length);
        }
        else
        {
            if (initializer.Storage == OnnxDataStorage.FloatData && initializer.ElementType != TensorElementType.Float)
                throw new WeightFileException(ModelPath, initializer.Name, "float_data holds a non-float32 tensor.");
            bytes = ReadInline(initializer);
        }
        if (bytes.Length != expected)
            throw new WeightFileException(ModelPath, initializer.Name,
                $"shape/size mismatch: dims [{string.Join(", ", initializer.Dims)}] of {initializer.ElementType} need {expected} bytes, the data has {bytes.Length}.");

        switch (initializer.ElementType)
        {
            case TensorElementType.Float:
                if (!BitConverter.IsLittleEndian)
                    throw new PlatformNotSupportedException("ONNX weights are little-endian.");
                bytes.AsSpan().CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
                break;
            case TensorElementType.Double:
                TensorPrimitives.ConvertTruncating(MemoryMarshal.Cast<byte, double>(bytes.AsSpan()), result.AsSpan());
                break;
            default:
                Convert16(initializer.ElementType, MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan()), result);
                break;
        }
        return result;
    }

    private static void Convert16(TensorElementType type, ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (type == TensorElementType.Float16)
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);
        else
            SafeTensorsFile.BFloat16ToSingle(source, destination);
    }

    /// <summary>Data stored in the model itself: from the file, or from the bytes of a graph held in memory.</summary>
    private byte[] ReadInline(OnnxInitializer initializer)
    {
        if (_graphBytes is null)
            return ReadBytes(ModelPath, initializer, initializer.Offset, initializer.Length);
        if (initializer.Offset < 0 || initializer.Length < 0 || initializer.Offset + initializer.Length > _graphBytes.Length)
            throw new WeightFileException(ModelPath, initializer.Name, "its data runs past the end of the graph.");
        return _graphBytes.AsSpan(checked((int)initializer.Offset), checked((int)initializer.Length)).ToArray();
    }

    private static byte[] ReadBytes(string path, OnnxInitializer initializer, long offset, long length)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        long fileLength = RandomAccess.GetLength(handle);
        if (offset < 0 || length < 0 || offset + length > fileLength)
            throw new WeightFileException(path, initializer.Name, $"data at offset {offset}, length {length} runs past the end of the file ({fileLength} bytes).");
        var bytes = GC.AllocateUninitializedArray<byte>(checked((int)length));
        if (RandomAccess.Read(handle, bytes, offset) != bytes.Length)
            throw new WeightFileException(path, initializer.Name, "the file ended before the tensor's data.");
        return bytes;
    }

    private ulong ReadVarint(byte[] bytes, ref int position, OnnxInitializer initializer)
    {
        ulong result = 0;
        for (int shift = 0; shift < 70 && position < bytes.Length; shift += 7)
        {
            byte b = bytes[position++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return result;
        }
        throw new WeightFileException(ModelPath, initializer.Name, "int32_data ends inside a varint.");
    }
}
