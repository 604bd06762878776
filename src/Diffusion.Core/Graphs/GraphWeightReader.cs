using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Diffusion.Core.Graphs.Proto;
using Microsoft.Win32.SafeHandles;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Reads a graph's float32/float16/bfloat16 initializers as float32, from external-data files in one folder (a
/// checkpoint, a model's <c>.onnx_data</c>) or from the model itself where they are embedded; each file is opened once.
/// </summary>
internal sealed class GraphWeightReader(string folder) : IDisposable
{
    private const int ChunkElements = 1 << 20;
    private readonly Dictionary<string, SafeFileHandle> _handles = new(StringComparer.Ordinal);

    /// <summary>
    /// Reads <paramref name="weight"/> into <paramref name="destination"/> (exactly its element count), widening half
    /// precision (bfloat16 by a shift, float16 with <see cref="TensorPrimitives"/>).
    /// </summary>
    /// <exception cref="WeightFileException">The file is missing, or holds another number of bytes than the shape needs.</exception>
    public void Read(TensorProto weight, Span<float> destination)
    {
        int elementBytes = weight.DataType == (int)TensorProto.Types.DataType.Float ? 4 : 2;
        long expected = destination.Length * (long)elementBytes;
        if (weight.DataLocation != TensorProto.Types.DataLocation.External)
        {
            ReadEmbedded(weight, destination, expected);
            return;
        }
        (string location, long offset, long length) = ExternalData(weight);
        string path = Path.Combine(folder, location);
        if ((length >= 0 && length != expected) || offset < 0)
            throw new WeightFileException(path, weight.Name, $"holds {length} bytes at offset {offset}, not the {expected} of its shape.");
        if (!_handles.TryGetValue(path, out SafeFileHandle? handle))
        {
            if (!File.Exists(path))
                throw new WeightFileException(path, weight.Name, "the weight file is missing.");
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
            _handles.Add(path, handle);
        }
        if (offset + expected > RandomAccess.GetLength(handle))
            throw new WeightFileException(path, weight.Name, "its data lies past the file's end.");
        if (elementBytes == 4)
        {
            ReadExactly(handle, MemoryMarshal.AsBytes(destination), offset, path, weight.Name);
            return;
        }
        bool bfloat16 = weight.DataType == (int)TensorProto.Types.DataType.Bfloat16;
        ushort[] chunk = new ushort[Math.Min(ChunkElements, destination.Length)];
        for (int start = 0; start < destination.Length; start += chunk.Length)
        {
            int count = Math.Min(chunk.Length, destination.Length - start);
            ReadExactly(handle, MemoryMarshal.AsBytes(chunk.AsSpan(0, count)), offset + start * 2L, path, weight.Name);
            Widen(chunk.AsSpan(0, count), destination.Slice(start, count), bfloat16);
        }
    }

    /// <summary>The file, offset and length (−1 when absent) of an external initializer.</summary>
    public static (string Location, long Offset, long Length) ExternalData(TensorProto tensor)
    {
        string location = string.Empty;
        long offset = 0, length = -1;
        foreach (StringStringEntryProto entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location": location = entry.Value; break;
                case "offset": offset = long.Parse(entry.Value, CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(entry.Value, CultureInfo.InvariantCulture); break;
            }
        }
        return (location, offset, length);
    }

    /// <summary>Whether <paramref name="weight"/> has values to read: external, or embedded as raw bytes or float32 values.</summary>
    public static bool HasValues(TensorProto weight) => weight.DataLocation == TensorProto.Types.DataLocation.External
        || !weight.RawData.IsEmpty || weight.FloatData.Count > 0;

    public void Dispose()
    {
        foreach (SafeFileHandle handle in _handles.Values)
            handle.Dispose();
        _handles.Clear();
    }

    private void ReadEmbedded(TensorProto weight, Span<float> destination, long expected)
    {
        if (weight.FloatData.Count > 0)
        {
            if (weight.FloatData.Count != destination.Length)
                throw new WeightFileException(folder, weight.Name, $"holds {weight.FloatData.Count} values, not the {destination.Length} of its shape.");
            for (int i = 0; i < destination.Length; i++)
                destination[i] = weight.FloatData[i];
            return;
        }
        ReadOnlySpan<byte> raw = weight.RawData.Span;
        if (raw.Length != expected)
            throw new WeightFileException(folder, weight.Name, $"holds {raw.Length} bytes, not the {expected} of its shape.");
        if (weight.DataType == (int)TensorProto.Types.DataType.Float)
            MemoryMarshal.Cast<byte, float>(raw).CopyTo(destination);
        else
            Widen(MemoryMarshal.Cast<byte, ushort>(raw), destination, weight.DataType == (int)TensorProto.Types.DataType.Bfloat16);
    }

    private static void Widen(ReadOnlySpan<ushort> half, Span<float> destination, bool bfloat16)
    {
        if (bfloat16)
        {
            // bfloat16 is the top half of a float32: widening is a shift.
            Span<uint> bits = MemoryMarshal.Cast<float, uint>(destination);
            for (int i = 0; i < half.Length; i++)
                bits[i] = (uint)half[i] << 16;
        }
        else
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(half), destination);
        }
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> bytes, long offset, string path, string name)
    {
        for (int read = 0; read < bytes.Length;)
        {
            int n = RandomAccess.Read(handle, bytes[read..], offset + read);
            if (n == 0)
                throw new WeightFileException(path, name, "the file ended inside this tensor's data.");
            read += n;
        }
    }
}
