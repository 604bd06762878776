using System.Text;

namespace Diffusion.Core.Weights;

/// <summary>
/// A minimal forward reader of the protobuf wire format over a seekable stream: varints, fixed32/64 and
/// length-delimited fields, with every length checked against the enclosing message's end. Payloads that are
/// not needed (tensor bytes) are skipped by seeking, so their position is known without reading them.
/// </summary>
internal sealed class ProtobufStreamReader
{
    private readonly Stream _stream;
    private readonly string _path;
    private long _position;

    public ProtobufStreamReader(Stream stream, string path)
    {
        _stream = stream;
        _path = path;
        _position = stream.Position;
    }

    /// <summary>Current offset in the stream.</summary>
    public long Position => _position;

    /// <summary>Reads the next field key when the current message (ending at <paramref name="end"/>) has more.</summary>
    public bool TryReadTag(long end, out int fieldNumber, out int wireType)
    {
        if (_position >= end)
        {
            fieldNumber = 0;
            wireType = 0;
            return false;
        }
        ulong key = ReadVarint();
        fieldNumber = (int)(key >> 3);
        wireType = (int)(key & 7);
        if (fieldNumber == 0)
            throw Malformed("field number 0");
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            int b = _stream.ReadByte();
            if (b < 0)
                throw Malformed("unexpected end of file in a varint");
            _position++;
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return result;
        }
        throw Malformed("varint longer than 10 bytes");
    }

    /// <summary>Reads a fixed32 field's value as a little-endian float32 (protobuf's <c>float</c>).</summary>
    public float ReadFloat32(long end)
    {
        Span<byte> bytes = stackalloc byte[4];
        CheckedEnd(4, end);
        ReadExactly(bytes);
        _position += 4;
        return System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes);
    }

    /// <summary>Reads a length prefix and returns the end offset of the payload that follows.</summary>
    public long ReadLengthDelimitedEnd(long enclosingEnd)
    {
        ulong length = ReadVarint();
        if (length > (ulong)(enclosingEnd - _position))
            throw Malformed($"a field of {length} bytes runs past the end of its message");
        return _position + (long)length;
    }

    /// <summary>The longest string field read (1 MiB): ONNX names and keys are far shorter.</summary>
    public const int MaxStringLength = 1 << 20;

    public string ReadString(long end)
    {
        // Names, data types and external-data keys: a string field far longer than any of them is a malformed file,
        // refused before its bytes are allocated.
        long available = end - _position;
        if (available < 0 || available > MaxStringLength)
            throw Malformed($"a string field of {available} bytes (at most {MaxStringLength} are accepted)");
        int length = (int)available;
        if (length == 0)
            return string.Empty;
        byte[] bytes = length <= 4096 ? new byte[length] : GC.AllocateUninitializedArray<byte>(length);
        ReadExactly(bytes);
        _position += length;
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Moves to <paramref name="offset"/> (forward only), seeking over the bytes in between.</summary>
    public void SkipTo(long offset)
    {
        if (offset < _position)
            throw Malformed("negative skip");
        _stream.Seek(offset - _position, SeekOrigin.Current);
        _position = offset;
    }

    /// <summary>Skips the value of a field of <paramref name="wireType"/> inside a message ending at <paramref name="end"/>.</summary>
    public void SkipField(int wireType, long end)
    {
        switch (wireType)
        {
            case 0: ReadVarint(); break;
            case 1: SkipTo(CheckedEnd(8, end)); break;
            case 2: SkipTo(ReadLengthDelimitedEnd(end)); break;
            case 5: SkipTo(CheckedEnd(4, end)); break;
            default: throw Malformed($"unsupported wire type {wireType}");
        }
    }

    private long CheckedEnd(int length, long end)
        => _position + length <= end ? _position + length : throw Malformed("a fixed-size field runs past the end of its message");

    // A length inside the file may promise more bytes than the file has: a truncated file is malformed, not an I/O error.
    private void ReadExactly(Span<byte> destination)
    {
        if (_stream.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false) < destination.Length)
            throw Malformed($"the file ends inside a field of {destination.Length} bytes");
    }

    public ModelLoadException Malformed(string what)
        => new(_path, $"malformed ONNX protobuf at byte {_position}: {what}.");
}
