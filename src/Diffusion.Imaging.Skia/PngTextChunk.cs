using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace Diffusion.Imaging.Skia;

/// <summary>
/// PNG text chunks: the <c>parameters</c> chunk web UIs write their settings in, added to an encoded PNG and read back.
/// Writing follows Pillow's <c>PngInfo.add_text</c> (as A1111 uses it): a <c>tEXt</c> chunk when the text is Latin-1,
/// else an uncompressed UTF-8 <c>iTXt</c> chunk, placed right after <c>IHDR</c>. Reading accepts <c>tEXt</c>,
/// <c>zTXt</c> and <c>iTXt</c> (compressed or not), walking the chunks with every length checked and decompression
/// bounded, since the file may come from anywhere.
/// </summary>
public static class PngTextChunk
{
    /// <summary>Longest text read back (decompressed), in bytes.</summary>
    public const int MaxTextBytes = 1 << 20;

    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>A copy of <paramref name="png"/> with a text chunk <paramref name="keyword"/> = <paramref name="text"/> after its header.</summary>
    /// <exception cref="ImageFormatException">The bytes are not a PNG.</exception>
    /// <exception cref="ArgumentException">The keyword is not 1–79 printable Latin-1 characters, or the text is longer than <see cref="MaxTextBytes"/>.</exception>
    public static byte[] Insert(ReadOnlySpan<byte> png, string keyword, string text)
    {
        ArgumentNullException.ThrowIfNull(keyword);
        ArgumentNullException.ThrowIfNull(text);
        if (keyword.Length is < 1 or > 79 || keyword.Any(c => c < 32 || c > 255 || c == 127) || keyword[0] == ' ' || keyword[^1] == ' ')
            throw new ArgumentException($"'{keyword}' is not a PNG text keyword (1 to 79 printable Latin-1 characters, no leading or trailing space).", nameof(keyword));
        bool latin1 = text.All(c => c <= 255);
        byte[] body = latin1 ? Encoding.Latin1.GetBytes(text) : Encoding.UTF8.GetBytes(text);
        if (body.Length > MaxTextBytes)
            throw new ArgumentException($"The text is {body.Length} bytes; at most {MaxTextBytes} are written.", nameof(text));

        int headerEnd = HeaderEnd(png);
        using var chunk = new MemoryStream();
        chunk.Write(Encoding.Latin1.GetBytes(keyword));
        chunk.WriteByte(0);
        if (!latin1)
        {
            chunk.Write([0, 0]); // not compressed, method 0
            chunk.WriteByte(0);  // empty language tag
            chunk.WriteByte(0);  // empty translated keyword
        }
        chunk.Write(body);

        var output = new MemoryStream(png.Length + (int)chunk.Length + 12);
        output.Write(png[..headerEnd]);
        WriteChunk(output, latin1 ? "tEXt"u8 : "iTXt"u8, chunk.GetBuffer().AsSpan(0, (int)chunk.Length));
        output.Write(png[headerEnd..]);
        return output.ToArray();
    }

    /// <summary>The text of the first text chunk named <paramref name="keyword"/>, or null when the PNG has none.</summary>
    /// <exception cref="ImageFormatException">The bytes are not a PNG, a chunk's length runs past the end, or the text is malformed or too long.</exception>
    public static string? Read(ReadOnlySpan<byte> png, string keyword)
    {
        ArgumentNullException.ThrowIfNull(keyword);
        if (png.Length < Signature.Length + 12 || !png[..Signature.Length].SequenceEqual(Signature))
            throw new ImageFormatException(null, "not a PNG file (bad signature).");
        int offset = Signature.Length;
        while (offset + 12 <= png.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[offset..]);
            if (length > int.MaxValue || offset + 12L + length > png.Length)
                throw new ImageFormatException(null, $"a PNG chunk at byte {offset} claims {length} bytes, past the end of the file.");
            ReadOnlySpan<byte> type = png.Slice(offset + 4, 4);
            ReadOnlySpan<byte> data = png.Slice(offset + 8, (int)length);
            if (type.SequenceEqual("IEND"u8))
                break;
            if (type.SequenceEqual("tEXt"u8) || type.SequenceEqual("zTXt"u8) || type.SequenceEqual("iTXt"u8))
            {
                int nul = data.IndexOf((byte)0);
                if (nul > 0 && Encoding.Latin1.GetString(data[..nul]) == keyword)
                    return DecodeText(type, data[(nul + 1)..]);
            }
            offset += 12 + (int)length;
        }
        return null;
    }

    private static string DecodeText(ReadOnlySpan<byte> type, ReadOnlySpan<byte> rest)
    {
        if (type.SequenceEqual("tEXt"u8))
            return rest.Length <= MaxTextBytes ? Encoding.Latin1.GetString(rest) : throw TooLong();
        if (type.SequenceEqual("zTXt"u8))
            return rest.Length >= 1 && rest[0] == 0 ? Encoding.Latin1.GetString(Inflate(rest[1..])) : throw Malformed("zTXt");
        // iTXt: compression flag, method, language tag\0, translated keyword\0, text.
        if (rest.Length < 2)
            throw Malformed("iTXt");
        bool compressed = rest[0] == 1;
        ReadOnlySpan<byte> afterFlags = rest[2..];
        int language = afterFlags.IndexOf((byte)0);
        if (language < 0)
            throw Malformed("iTXt");
        ReadOnlySpan<byte> afterLanguage = afterFlags[(language + 1)..];
        int translated = afterLanguage.IndexOf((byte)0);
        if (translated < 0)
            throw Malformed("iTXt");
        ReadOnlySpan<byte> text = afterLanguage[(translated + 1)..];
        byte[] utf8 = compressed ? Inflate(text) : text.Length <= MaxTextBytes ? text.ToArray() : throw TooLong();
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(utf8);
        }
        catch (DecoderFallbackException ex)
        {
            throw new ImageFormatException(null, $"an iTXt chunk's text is not valid UTF-8: {ex.Message}");
        }
    }

    private static byte[] Inflate(ReadOnlySpan<byte> compressed)
    {
        try
        {
            using var input = new ZLibStream(new MemoryStream(compressed.ToArray()), CompressionMode.Decompress);
            using var output = new MemoryStream();
            byte[] buffer = new byte[16384];
            int read;
            while ((read = input.Read(buffer)) > 0)
            {
                if (output.Length + read > MaxTextBytes)
                    throw TooLong();
                output.Write(buffer, 0, read);
            }
            return output.ToArray();
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            // Everything here is in memory, so an IOException is the stream's content: InvalidDataException for
            // corrupt deflate data, ZLibException for zlib codes .NET does not map, such as Z_NEED_DICT from a
            // header that asks for a preset dictionary (PNG never uses one).
            throw new ImageFormatException(null, $"a compressed PNG text chunk is corrupt: {ex.Message}");
        }
    }

    private static ImageFormatException TooLong() => new(null, $"a PNG text chunk is longer than {MaxTextBytes} bytes.");

    private static ImageFormatException Malformed(string type) => new(null, $"a PNG {type} chunk is malformed.");

    /// <summary>The offset just past the IHDR chunk, checking the signature and that IHDR comes first.</summary>
    private static int HeaderEnd(ReadOnlySpan<byte> png)
    {
        if (png.Length < Signature.Length + 25 || !png[..Signature.Length].SequenceEqual(Signature)
            || BinaryPrimitives.ReadUInt32BigEndian(png[8..]) != 13 || !png.Slice(12, 4).SequenceEqual("IHDR"u8))
            throw new ImageFormatException(null, "not a PNG file (bad signature or no IHDR chunk first).");
        return Signature.Length + 12 + 13;
    }

    private static void WriteChunk(Stream output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        output.Write(word);
        output.Write(type);
        output.Write(data);
        var crc = new Crc32();
        crc.Append(type);
        crc.Append(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc.GetCurrentHashAsUInt32());
        output.Write(word);
    }
}
