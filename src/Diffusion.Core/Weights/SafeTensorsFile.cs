using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Diffusion.Core.Weights;

/// <summary>
/// A <c>.safetensors</c> file opened for reading: the header is parsed and checked on <see cref="Open"/>;
/// tensor data is read on demand with positioned reads, so a multi-GB file is never loaded whole.
/// </summary>
/// <remarks>
/// Format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping
/// each key to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (offsets relative to the data section
/// that follows the header) plus an optional <c>__metadata__</c> string map. Our own reader, no code execution:
/// the header length, every tensor's offsets (against the file size and against each other) and its byte
/// size (against shape × element size) are checked before anything is read. <c>F32</c>, <c>F16</c>,
/// <c>BF16</c> and <c>F64</c> tensors are converted to float32 on read. Pickle checkpoints are refused.
/// Thread-safe for concurrent reads.
/// </remarks>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    private const long MaxHeaderLength = 100_000_000;

    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _byName;

    private SafeTensorsFile(string path, SafeFileHandle handle, long dataStart, List<SafeTensorInfo> tensors,
        Dictionary<string, SafeTensorInfo> byName, Dictionary<string, string> metadata)
    {
        FilePath = path;
        _handle = handle;
        _dataStart = dataStart;
        Tensors = tensors;
        _byName = byName;
        Metadata = metadata;
    }

    /// <summary>The file this reads from.</summary>
    public string FilePath { get; }

    /// <summary>The header's <c>__metadata__</c> map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Where the data section starts in the file (8 + header length): tensor offsets count from here.</summary>
    internal long DataSectionOffset => _dataStart;

    /// <summary>Every tensor in the file, in header order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>
    /// Opens <paramref name="path"/> and validates its header.
    /// </summary>
    /// <exception cref="WeightFileException">The file is missing, a pickle checkpoint, truncated, or its header is
    /// malformed (bad JSON, unknown dtype, offsets past the end of the file or overlapping, a byte size that does
    /// not match the shape); the message names the file and the key.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        // A missing file is reported as missing, whatever its extension says it would have been.
        if (!File.Exists(path))
            throw new WeightFileException(path, null, "file not found.");
        PickleCheckpointGuard.ThrowIfPickleExtension(path);
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            Span<byte> start = stackalloc byte[9];
            int got = RandomAccess.Read(handle, start, 0);
            start = start[..got];
            if (got < 9 || start[8] != (byte)'{')
                PickleCheckpointGuard.ThrowIfPickleMagic(path, start);
            if (got < 9)
                throw new WeightFileException(path, null, $"truncated header: the file has {fileLength} bytes, too few for the 8-byte header length and a header.");
            if (start[8] != (byte)'{')
                throw new WeightFileException(path, null, "not a safetensors file: the JSON header after the 8-byte length must start with '{'.");
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(start);
            if (headerLength > (ulong)(fileLength - 8))
                throw new WeightFileException(path, null, $"truncated header: the header length says {headerLength} bytes but only {fileLength - 8} follow it.");
            if (headerLength > MaxHeaderLength)
                throw new WeightFileException(path, null, $"header length {headerLength} exceeds the {MaxHeaderLength}-byte limit.");

            byte[] header = new byte[(int)headerLength];
            RandomAccess.Read(handle, header, 8);
            long dataStart = 8 + (long)headerLength;
            var (tensors, byName, metadata) = ParseHeader(path, header, fileLength - dataStart);
            return new SafeTensorsFile(path, handle, dataStart, tensors, byName, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Looks up a tensor by key.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SafeTensorInfo? info)
        => _byName.TryGetValue(name, out info);

    /// <summary>Reads tensor <paramref name="name"/> converted to float32 into a new array (C order).</summary>
    /// <exception cref="WeightFileException">No such key, or its dtype is not a floating-point type.</exception>
    public float[] ReadAsFloat32(string name)
    {
        SafeTensorInfo info = GetInfo(name);
        var result = new float[checked((int)info.ElementCount)];
        ReadAsFloat32(info, result);
        return result;
    }

    /// <summary>Reads tensor <paramref name="name"/> converted to float32 into <paramref name="destination"/>
    /// (exactly its element count long).</summary>
    /// <exception cref="WeightFileException">No such key, its dtype is not a floating-point type, or the destination length differs.</exception>
    public void ReadAsFloat32(string name, Span<float> destination) => ReadAsFloat32(GetInfo(name), destination);

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();

    private SafeTensorInfo GetInfo(string name)
        => _byName.TryGetValue(name, out SafeTensorInfo? info) ? info : throw new WeightFileException(FilePath, name, "no such tensor in the file.");

    private void ReadAsFloat32(SafeTensorInfo info, Span<float> destination)
    {
        if (destination.Length != info.ElementCount)
            throw new WeightFileException(FilePath, info.Name, $"destination holds {destination.Length} elements, the tensor {info.ElementCount}.");
        long offset = _dataStart + info.DataStart;
        switch (info.DType)
        {
            case "F32":
                ReadExactly(info, MemoryMarshal.AsBytes(destination), offset);
                return;
            case "F16":
            case "BF16":
            case "F64":
                int elementSize = info.DType == "F64" ? 8 : 2;
                const int chunkElements = 1 << 16;
                byte[] buffer = ArrayPool<byte>.Shared.Rent(chunkElements * elementSize);
                try
                {
                    for (int done = 0; done < destination.Length; done += chunkElements)
                    {
                        int count = Math.Min(chunkElements, destination.Length - done);
                        Span<byte> bytes = buffer.AsSpan(0, count * elementSize);
                        ReadExactly(info, bytes, offset + (long)done * elementSize);
                        Span<float> target = destination.Slice(done, count);
                        if (info.DType == "F16")
                            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), target);
                        else if (info.DType == "BF16")
                            BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(bytes), target);
                        else
                            TensorPrimitives.ConvertTruncating(MemoryMarshal.Cast<byte, double>(bytes), target);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
                return;
            case "F8_E4M3":
            case "F8_E5M2":
                byte[] eightBit = ArrayPool<byte>.Shared.Rent(1 << 16);
                try
                {
                    for (int done = 0; done < destination.Length; done += 1 << 16)
                    {
                        int count = Math.Min(1 << 16, destination.Length - done);
                        Span<byte> bytes = eightBit.AsSpan(0, count);
                        ReadExactly(info, bytes, offset + done);
                        if (info.DType == "F8_E4M3")
                            Float8.E4M3FnToSingle(bytes, destination.Slice(done, count));
                        else
                            Float8.E5M2ToSingle(bytes, destination.Slice(done, count));
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(eightBit);
                }
                return;
            default:
                throw new WeightFileException(FilePath, info.Name, $"dtype {info.DType} cannot be read as float32 (expected F32, F16, BF16, F64, F8_E4M3 or F8_E5M2).");
        }
    }

    private void ReadExactly(SafeTensorInfo info, Span<byte> destination, long offset)
    {
        int read = RandomAccess.Read(_handle, destination, offset);
        if (read != destination.Length)
            throw new WeightFileException(FilePath, info.Name, "the file ended before the tensor's data (was it truncated after opening?).");
    }

    /// <summary>bfloat16 is the upper half of a float32: widen by shifting the bits.</summary>
    internal static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        Span<uint> bits = MemoryMarshal.Cast<float, uint>(destination);
        for (int i = 0; i < source.Length; i++)
            bits[i] = (uint)source[i] << 16;
    }

    /// <summary>Bytes per element for the safetensors dtypes; 0 for an unknown dtype.</summary>
    private static int ElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => 0,
    };

    private static (List<SafeTensorInfo>, Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(
        string path, byte[] header, long dataLength)
    {
        // JsonDocument.Parse accepts invalid UTF-8 inside strings and fails later, untyped, when a string is read.
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw new WeightFileException(path, null, "the header is not valid UTF-8 text.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new WeightFileException(path, null, $"the header is not valid JSON ({e.Message}).");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new WeightFileException(path, null, "the header must be a JSON object.");
            var tensors = new List<SafeTensorInfo>();
            var byName = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(path, property.Value, metadata);
                    continue;
                }
                SafeTensorInfo info = ParseEntry(path, property.Name, property.Value, dataLength);
                if (!byName.TryAdd(info.Name, info))
                    throw new WeightFileException(path, info.Name, "the key appears twice in the header.");
                tensors.Add(info);
            }
            CheckNoOverlap(path, tensors);
            return (tensors, byName, metadata);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new WeightFileException(path, "__metadata__", "must be a JSON object of strings.");
        foreach (JsonProperty entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new WeightFileException(path, "__metadata__", $"entry '{entry.Name}' must be a string.");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static SafeTensorInfo ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out JsonElement offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
            throw new WeightFileException(path, name, "header entry must have a string 'dtype', an array 'shape' and two 'data_offsets'.");

        string dtype = dtypeElement.GetString()!;
        int elementSize = ElementSize(dtype);
        if (elementSize == 0)
            throw new WeightFileException(path, name, $"unknown dtype '{dtype}' (expected F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, ...).");

        var shape = new long[shapeElement.GetArrayLength()];
        long elementCount = 1;
        int d = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
                throw new WeightFileException(path, name, "shape entries must be non-negative integers.");
            shape[d++] = size;
            try
            {
                elementCount = checked(elementCount * size);
            }
            catch (OverflowException)
            {
                throw new WeightFileException(path, name, "shape is too large.");
            }
        }

        JsonElement beginElement = offsetsElement[0], endElement = offsetsElement[1];
        if (beginElement.ValueKind != JsonValueKind.Number || !beginElement.TryGetInt64(out long begin)
            || endElement.ValueKind != JsonValueKind.Number || !endElement.TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new WeightFileException(path, name, "data_offsets must be two non-negative integers [begin, end] with begin <= end.");
        if (end > dataLength)
            throw new WeightFileException(path, name, $"data_offsets [{begin}, {end}] run past the end of the file (the data section has {dataLength} bytes).");
        long expectedBytes = elementCount > long.MaxValue / elementSize ? -1 : elementCount * elementSize;
        if (end - begin != expectedBytes)
            throw new WeightFileException(path, name,
                $"shape/size mismatch: shape [{string.Join(", ", shape)}] of {dtype} needs {elementCount} × {elementSize} bytes but data_offsets span {end - begin}.");
        return new SafeTensorInfo(name, dtype, shape, elementCount, begin, end);
    }

    private static void CheckNoOverlap(string path, List<SafeTensorInfo> tensors)
    {
        var sorted = new List<SafeTensorInfo>(tensors);
        sorted.Sort(static (a, b) => a.DataStart != b.DataStart ? a.DataStart.CompareTo(b.DataStart) : a.DataEnd.CompareTo(b.DataEnd));
        for (int i = 1; i < sorted.Count; i++)
        {
            SafeTensorInfo previous = sorted[i - 1], current = sorted[i];
            if (current.DataStart < previous.DataEnd)
                throw new WeightFileException(path, current.Name,
                    $"data_offsets [{current.DataStart}, {current.DataEnd}] overlap those of '{previous.Name}' [{previous.DataStart}, {previous.DataEnd}].");
        }
    }
}
