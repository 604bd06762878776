using System.Buffers.Binary;
using System.IO.Compression;
using Diffusion.Core.Imaging;

namespace Diffusion.Imaging.Skia.Tests;

/// <summary>
/// Files that declare more pixels than they hold: the size is checked in 64 bits against <see cref="ImageDecodeOptions.MaxPixels"/>
/// before any pixel memory is allocated. A 60000×60000 PNG used to allocate an Int32-wrapped 1.5 GB buffer that Skia then
/// wrote 14.4 GB into.
/// </summary>
public sealed class ImageSizeLimitTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-size-limit-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void A_png_declaring_60000_squared_pixels_is_refused_in_a_child_process_that_survives()
    {
        string path = Path.Combine(_folder, "huge.png");
        File.WriteAllBytes(path, Png(60000, 60000, compressedRows: 4096));

        CrashProbe.Outcome outcome = CrashProbe.Run(TimeSpan.FromSeconds(60), "decode", path);

        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        Assert.Contains("ImageFormatException", outcome.Output, StringComparison.Ordinal);
        Assert.Contains(path, outcome.Output, StringComparison.Ordinal);
        Assert.Contains("60000x60000", outcome.Output, StringComparison.Ordinal);
        Assert.Contains("89,478,485", outcome.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_pixel_limit_is_configurable_and_checked_before_decoding()
    {
        byte[] png = Png(20, 10, compressedRows: 10);

        var error = Assert.Throws<ImageFormatException>(() => SkiaImageCodec.Decode(png, new ImageDecodeOptions { MaxPixels = 199 }));
        Assert.Contains("20x10 = 200 pixels", error.Message, StringComparison.Ordinal);
        Assert.Contains("over the limit of 199", error.Message, StringComparison.Ordinal);

        ImageBuffer image = SkiaImageCodec.Decode(png, new ImageDecodeOptions { MaxPixels = 200 });
        Assert.Equal((20, 10), (image.Width, image.Height));
    }

    [Fact]
    public void The_limit_on_load_names_the_file()
    {
        string path = Path.Combine(_folder, "small.png");
        File.WriteAllBytes(path, Png(20, 10, compressedRows: 10));
        var error = Assert.Throws<ImageFormatException>(() => SkiaImageCodec.Load(path, new ImageDecodeOptions { MaxPixels = 100 }));
        Assert.Equal(path, error.Path);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(long.MaxValue)]
    public void A_pixel_limit_outside_what_a_buffer_can_hold_is_refused(long maxPixels)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => SkiaImageCodec.Decode(Png(2, 2, 2), new ImageDecodeOptions { MaxPixels = maxPixels }));
        Assert.Equal("MaxPixels", error.ParamName);
    }

    /// <summary>An 8-bit RGB PNG header of any size, with <paramref name="compressedRows"/> rows of zero pixels (at most the height) in its IDAT.</summary>
    private static byte[] Png(int width, int height, int compressedRows)
    {
        using var file = new MemoryStream();
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        byte[] header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 2; // colour type RGB
        WriteChunk(file, "IHDR", header);
        using var pixels = new MemoryStream();
        using (var zlib = new ZLibStream(pixels, CompressionLevel.Fastest, leaveOpen: true))
        {
            byte[] row = new byte[1 + (3 * width)]; // filter byte 0 + zero pixels
            for (int y = 0; y < Math.Min(compressedRows, height); y++)
                zlib.Write(row);
        }
        WriteChunk(file, "IDAT", pixels.ToArray());
        if (compressedRows >= height)
            WriteChunk(file, "IEND", []);
        return file.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        byte[] typed = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        stream.Write(typed);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        stream.Write(crc);
    }

    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
