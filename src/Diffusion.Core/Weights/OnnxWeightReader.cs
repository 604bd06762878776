using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Weights;

/// <summary>
/// Reads the parts of an ONNX model that weight overrides need: the graph's nodes (name, op type, inputs,
/// outputs, a Gemm's <c>transB</c>, a LayerNormalization's <c>epsilon</c> and <c>axis</c>), its inputs' names and its initializers (name, dims, element type and
/// where the bytes are: <c>raw_data</c>, <c>float_data</c>/<c>int32_data</c> or external data).
/// </summary>
/// <remarks>
/// A hand-written protobuf wire-format reader for the dozen fields used (ModelProto.graph = 7, metadata_props = 14; GraphProto
/// node = 1, initializer = 5, input = 11; NodeProto input = 1, output = 2, name = 3, op_type = 4, attribute = 5;
/// AttributeProto name = 1, f = 2, i = 3; TensorProto dims = 1, data_type = 2, float_data = 4, int32_data = 5,
/// name = 8, raw_data = 9, external_data = 13, data_location = 14; StringStringEntryProto key = 1, value = 2;
/// ValueInfoProto name = 1) rather than Google.Protobuf with generated classes: no dependency, and tensor
/// payloads are skipped by seeking instead of being parsed into memory, so mapping a 2 GB UNet reads only its
/// graph. Numbers from the onnx.proto schema (onnx/onnx, IR version 8).
/// </remarks>
internal static class OnnxWeightReader
{
    /// <summary>Reads the graph of the model at <paramref name="modelPath"/> without reading tensor payloads.</summary>
    /// <exception cref="ModelLoadException">The file is missing or not a well-formed ONNX protobuf.</exception>
    public static OnnxModelGraph Read(string modelPath)
    {
        if (!File.Exists(modelPath))
            throw new ModelLoadException(modelPath, "ONNX model file not found.");
        using var stream = new FileStream(modelPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, modelPath, null, null);
    }

    /// <summary>Reads the graph of a model file or of a graph built in memory (external data resolved in its weights' folder).</summary>
    /// <exception cref="ModelLoadException">The file is missing or the model is not a well-formed ONNX protobuf.</exception>
    public static OnnxModelGraph Read(Models.ModelSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Graph is not byte[] graph)
            return Read(source.FilePath!);
        using var stream = new MemoryStream(graph, writable: false);
        return Read(stream, source.Description, graph, source.ExternalDataFolder ?? Environment.CurrentDirectory);
    }

    private static OnnxModelGraph Read(Stream stream, string modelPath, byte[]? graphBytes, string? externalFolder)
    {
        var reader = new ProtobufStreamReader(stream, modelPath);
        long end = stream.Length;
        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxInitializer>(StringComparer.Ordinal);
        var inputs = new List<string>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawGraph = false;
        while (reader.TryReadTag(end, out int field, out int wireType))
        {
            if (field == 7 && wireType == 2)
            {
                ReadGraph(reader, reader.ReadLengthDelimitedEnd(end), nodes, initializers, inputs, modelPath);
                sawGraph = true;
            }
            else if (field == 14 && wireType == 2)
            {
                (string key, string value) = ReadStringEntry(reader, reader.ReadLengthDelimitedEnd(end));
                metadata[key] = value;
            }
            else
            {
                reader.SkipField(wireType, end);
            }
        }
        if (!sawGraph)
            throw new ModelLoadException(modelPath, "not an ONNX model: no graph found.");
        return new OnnxModelGraph(modelPath, nodes, initializers, inputs, graphBytes, externalFolder, metadata);
    }

    private static void ReadGraph(ProtobufStreamReader reader, long end, List<OnnxNode> nodes,
        Dictionary<string, OnnxInitializer> initializers, List<string> inputs, string modelPath)
    {
        while (reader.TryReadTag(end, out int field, out int wireType))
        {
            if (wireType != 2)
            {
                reader.SkipField(wireType, end);
                continue;
            }
            long fieldEnd = reader.ReadLengthDelimitedEnd(end);
            switch (field)
            {
                case 1:
                    nodes.Add(ReadNode(reader, fieldEnd));
                    break;
                case 5:
                    OnnxInitializer initializer = ReadTensor(reader, fieldEnd, modelPath);
                    initializers[initializer.Name] = initializer;
                    break;
                case 11:
                    inputs.Add(ReadValueInfoName(reader, fieldEnd));
                    break;
                default:
                    reader.SkipTo(fieldEnd);
                    break;
            }
        }
    }

    private static OnnxNode ReadNode(ProtobufStreamReader reader, long end)
    {
        var inputs = new List<string>(3);
        var outputs = new List<string>(1);
        string name = string.Empty, opType = string.Empty;
        long? transB = null;
        float? epsilon = null;
        long? axis = null;
        while (reader.TryReadTag(end, out int field, out int wireType))
        {
            if (wireType != 2)
            {
                reader.SkipField(wireType, end);
                continue;
            }
            long fieldEnd = reader.ReadLengthDelimitedEnd(end);
            switch (field)
            {
                case 1: inputs.Add(reader.ReadString(fieldEnd)); break;
                case 2: outputs.Add(reader.ReadString(fieldEnd)); break;
                case 3: name = reader.ReadString(fieldEnd); break;
                case 4: opType = reader.ReadString(fieldEnd); break;
                case 5:
                    (string attributeName, long? intValue, float? floatValue) = ReadAttribute(reader, fieldEnd);
                    if (attributeName == "transB")
                        transB = intValue;
                    else if (attributeName == "epsilon")
                        epsilon = floatValue;
                    else if (attributeName == "axis")
                        axis = intValue;
                    break;
                default: reader.SkipTo(fieldEnd); break;
            }
        }
        return new OnnxNode(name, opType, inputs.ToArray(), outputs.ToArray(), transB, epsilon, axis);
    }

    private static (string Name, long? IntValue, float? FloatValue) ReadAttribute(ProtobufStreamReader reader, long end)
    {
        string name = string.Empty;
        long? intValue = null;
        float? floatValue = null;
        while (reader.TryReadTag(end, out int field, out int wireType))
        {
            if (field == 1 && wireType == 2)
                name = reader.ReadString(reader.ReadLengthDelimitedEnd(end));
            else if (field == 2 && wireType == 5)
                floatValue = reader.ReadFloat32(end);
            else if (field == 3 && wireType == 0)
                intValue = (long)reader.ReadVarint();
            else
                reader.SkipField(wireType, end);
        }
        return (name, intValue, floatValue);
    }

    private static string ReadValueInfoName(ProtobufStreamReader reader, long end)
    {
        string name = string.Empty;
        while (reader.TryReadTag(end, out int field, out int wireType))
        {
            if (field == 1 && wireType == 2)
                name = reader.ReadString(reader.ReadLengthDelimitedEnd(end));
            else
                reader.SkipField(wireType, end);
        }
        return name;
    }

    private static OnnxInitializer ReadTensor(ProtobufStreamReader reader, long end, string modelPath)
    {
        var dims = new List<long>(4);
        int dataType = 0;
        string name = string.Empty;
        OnnxDataStorage? storage = null;
        long offset = 0, length = -1;
        string? location = null;
        long externalOffset = 0, externalLength = -1;
        bool external = false;
        while (reader.TryReadTag(end, out int field, out int wireType))
        {
            switch (field, wireType)
            {
                case (1, 0):
                    dims.Add((long)reader.ReadVarint());
                    break;
                case (1, 2):
                    long dimsEnd = reader.ReadLengthDelimitedEnd(end);
                    while (reader.Position < dimsEnd)
                        dims.Add((long)reader.ReadVarint());
                    break;
                case (2, 0):
                    dataType = (int)reader.ReadVarint();
                    break;
                case (4, 2):
                case (5, 2):
                case (9, 2):
                    long payloadEnd = reader.ReadLengthDelimitedEnd(end);
                    offset = reader.Position;
                    length = payloadEnd - offset;
                    storage = field == 4 ? OnnxDataStorage.FloatData : field == 5 ? OnnxDataStorage.Int32Data : OnnxDataStorage.Raw;
                    reader.SkipTo(payloadEnd);
                    break;
                case (8, 2):
                    name = reader.ReadString(reader.ReadLengthDelimitedEnd(end));
                    break;
                case (13, 2):
                    (string key, string value) = ReadStringEntry(reader, reader.ReadLengthDelimitedEnd(end));
                    if (key == "location")
                        location = value;
                    else if (key == "offset" && long.TryParse(value, out long o))
                        externalOffset = o;
                    else if (key == "length" && long.TryParse(value, out long l))
                        externalLength = l;
                    break;
                case (14, 0):
                    external = reader.ReadVarint() == 1;
                    break;
                default:
                    reader.SkipField(wireType, end);
                    break;
            }
        }
        if (external)
        {
            if (string.IsNullOrEmpty(location))
                throw new ModelLoadException(modelPath, $"initializer '{name}' is stored externally but names no location.");
            return new OnnxInitializer(name, dims.ToArray(), (TensorElementType)dataType, OnnxDataStorage.External, location, externalOffset, externalLength);
        }
        return new OnnxInitializer(name, dims.ToArray(), (TensorElementType)dataType, storage ?? OnnxDataStorage.Raw, null, offset, Math.Max(length, 0));
    }

    private static (string Key, string Value) ReadStringEntry(ProtobufStreamReader reader, long end)
    {
        string key = string.Empty, value = string.Empty;
        while (reader.TryReadTag(end, out int field, out int wireType))
        {
            if (field == 1 && wireType == 2)
                key = reader.ReadString(reader.ReadLengthDelimitedEnd(end));
            else if (field == 2 && wireType == 2)
                value = reader.ReadString(reader.ReadLengthDelimitedEnd(end));
            else
                reader.SkipField(wireType, end);
        }
        return (key, value);
    }
}
