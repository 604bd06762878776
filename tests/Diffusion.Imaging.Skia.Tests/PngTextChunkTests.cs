using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json;
using Diffusion.Core.Imaging;

namespace Diffusion.Imaging.Skia.Tests;

public sealed class PngTextChunkTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "TestData", "png-text");

    public static TheoryData<string> PillowFiles() => [.. Expected().Keys];

    /// <summary>TestData/png-text: files whose chunks Pillow 9.4 wrote (tools/reference-data/png-text/generate_png_text.py).</summary>
    private static Dictionary<string, string?> Expected() =>
        JsonSerializer.Deserialize<Dictionary<string, string?>>(File.ReadAllText(Path.Combine(Folder, "expected.json")))!;

    [Theory]
    [MemberData(nameof(PillowFiles))]
    public void Reads_the_parameters_pillow_wrote(string name)
    {
        byte[] png = File.ReadAllBytes(Path.Combine(Folder, name));
        Assert.Equal(Expected()[name], PngTextChunk.Read(png, "parameters"));
    }

    [Theory]
    [InlineData("Steps: 20, Sampler: Euler a, Seed: 1, café")]          // Latin-1: tEXt
    [InlineData("富士山 <lora:x:0.5>\nSteps: 4, Sampler: Euler, Seed: 7")] // beyond Latin-1: iTXt in UTF-8
    public void Text_written_is_read_back_and_the_image_is_unchanged(string text)
    {
        var image = new ImageBuffer(5, 3);
        image.Pixels.AsSpan().Fill(77);
        byte[] plain = SkiaImageCodec.Encode(image, SkiaSharp.SKEncodedImageFormat.Png);

        byte[] tagged = PngTextChunk.Insert(plain, "parameters", text);

        Assert.Equal(text, PngTextChunk.Read(tagged, "parameters"));
        Assert.Equal(image.Pixels, SkiaImageCodec.Decode(tagged).Pixels);
        Assert.Equal(text.All(c => c <= 255) ? "tEXt" : "iTXt", ChunkTypes(tagged)[1]);
        AssertCrcsValid(tagged);
    }

    [Fact]
    public void Save_writes_the_chunks_in_order_and_only_for_png()
    {
        string folder = Directory.CreateTempSubdirectory("png-text-").FullName;
        try
        {
            var image = new ImageBuffer(4, 4);
            string path = Path.Combine(folder, "a.png");
            SkiaImageCodec.Save(image, path, pngText: [new("parameters", "p"), new("Software", "Diffusion.Core")]);
            byte[] png = File.ReadAllBytes(path);
            Assert.Equal(["IHDR", "tEXt", "tEXt"], ChunkTypes(png)[..3]);
            Assert.Equal("p", PngTextChunk.Read(png, "parameters"));
            Assert.Equal("Diffusion.Core", PngTextChunk.Read(png, "Software"));

            var error = Assert.Throws<ArgumentException>(() => SkiaImageCodec.Save(image, Path.Combine(folder, "a.jpg"), pngText: [new("parameters", "p")]));
            Assert.Contains("PNG", error.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(folder, "a.jpg")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Broken_files_are_typed_errors()
    {
        byte[] png = File.ReadAllBytes(Path.Combine(Folder, "text-latin1.png"));
        Assert.Throws<ImageFormatException>(() => PngTextChunk.Read("GIF89a......................"u8, "parameters"));
        byte[] lying = (byte[])png.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(lying.AsSpan(33), 0x7FFF_0000); // the chunk after IHDR claims 2 GB
        Assert.Throws<ImageFormatException>(() => PngTextChunk.Read(lying, "parameters"));
        Assert.Throws<ImageFormatException>(() => PngTextChunk.Insert("not a png at all, not a png at all"u8, "parameters", "x"));
        Assert.Throws<ArgumentException>(() => PngTextChunk.Insert(png, "", "x"));
        Assert.Throws<ArgumentException>(() => PngTextChunk.Insert(png, "bad\nkey", "x"));
        // Every prefix of a real file is either read or refused with a typed error: never an out-of-range crash.
        for (int length = 0; length < png.Length; length++)
        {
            try
            {
                _ = PngTextChunk.Read(png.AsSpan(0, length), "parameters");
            }
            catch (ImageFormatException)
            {
            }
        }
    }

    [Fact]
    public void A_compressed_chunk_that_inflates_past_the_limit_is_refused()
    {
        using var compressed = new MemoryStream();
        using (var zlib = new System.IO.Compression.ZLibStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            zlib.Write(new byte[PngTextChunk.MaxTextBytes + 10]);
        byte[] data = [.. "parameters"u8, 0, 0, .. compressed.ToArray()];
        byte[] png = File.ReadAllBytes(Path.Combine(Folder, "no-parameters.png"));
        byte[] bomb = [.. png[..33], .. Chunk("zTXt", data), .. png[33..]];
        var error = Assert.Throws<ImageFormatException>(() => PngTextChunk.Read(bomb, "parameters"));
        Assert.Contains("longer than", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0x78, 0x20, 1, 2, 3, 4, 0x03, 0x00 })] // FDICT: zlib asks for a preset dictionary (Z_NEED_DICT)
    [InlineData(new byte[] { 0x78, 0x9C, 0xFF, 0xFF, 0xFF })] // an invalid deflate block type
    [InlineData(new byte[] { 0x79, 0x9C, 0x03, 0x00 })] // a header whose check bits fail
    public void A_corrupt_compressed_chunk_is_a_typed_error(byte[] zlib)
    {
        byte[] png = File.ReadAllBytes(Path.Combine(Folder, "no-parameters.png"));
        byte[] zTxt = [.. png[..33], .. Chunk("zTXt", [.. "parameters"u8, 0, 0, .. zlib]), .. png[33..]];
        byte[] iTxt = [.. png[..33], .. Chunk("iTXt", [.. "parameters"u8, 0, 1, 0, 0, 0, .. zlib]), .. png[33..]];
        Assert.Contains("corrupt", Assert.Throws<ImageFormatException>(() => PngTextChunk.Read(zTxt, "parameters")).Message, StringComparison.Ordinal);
        Assert.Contains("corrupt", Assert.Throws<ImageFormatException>(() => PngTextChunk.Read(iTxt, "parameters")).Message, StringComparison.Ordinal);
    }

    private static byte[] Chunk(string type, byte[] data)
    {
        byte[] typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        byte[] chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        typeBytes.CopyTo(chunk, 4);
        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32.HashToUInt32([.. typeBytes, .. data]));
        return chunk;
    }

    private static string[] ChunkTypes(byte[] png)
    {
        var types = new List<string>();
        for (int offset = 8; offset + 12 <= png.Length;)
        {
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
            types.Add(System.Text.Encoding.ASCII.GetString(png, offset + 4, 4));
            offset += 12 + length;
        }
        return [.. types];
    }

    private static void AssertCrcsValid(byte[] png)
    {
        for (int offset = 8; offset + 12 <= png.Length;)
        {
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset + 8 + length));
            Assert.Equal(Crc32.HashToUInt32(png.AsSpan(offset + 4, 4 + length)), stored);
            offset += 12 + length;
        }
    }
}
