using System.Security.Cryptography;
using System.Text.Json;
using Diffusion.Core.Imaging;
using SkiaSharp;

namespace Diffusion.Imaging.Skia.Tests;

public sealed class SkiaImageCodecTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-skia-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>
    /// TestData/decode-reference.json, written by tools/reference-data/imaging/make_imaging_reference.py: small files
    /// encoded by Pillow 9.4 and the RGB bytes diffusers' load_image (exif_transpose + convert("RGB")) gives for them.
    /// </summary>
    public static TheoryData<string> DecodeCases()
    {
        var names = new TheoryData<string>();
        foreach (JsonElement item in LoadJson("decode-reference.json").GetProperty("decode").EnumerateArray())
            names.Add(item.GetProperty("name").GetString()!);
        return names;
    }

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void DecodeGivesTheBytesDiffusersLoadImageGives(string name)
    {
        JsonElement item = FindDecodeCase(name);
        ImageBuffer image = SkiaImageCodec.Decode(Convert.FromBase64String(item.GetProperty("encoded").GetString()!));
        Assert.Equal((item.GetProperty("width").GetInt32(), item.GetProperty("height").GetInt32()), (image.Width, image.Height));
        Assert.Equal(Convert.FromBase64String(item.GetProperty("pixels").GetString()!), image.Pixels);
    }

    [Fact]
    public void TransparentPixelsKeepTheirStoredColour()
    {
        // Row 0 of rgba.png has alpha 0 everywhere but random colours: dropping alpha keeps them, compositing would not.
        JsonElement item = FindDecodeCase("rgba.png");
        ImageBuffer image = SkiaImageCodec.Decode(Convert.FromBase64String(item.GetProperty("encoded").GetString()!));
        Assert.Contains(image.Pixels.AsSpan(0, 15).ToArray(), b => b != 0);
    }

    [Fact]
    public void ExifRotationSwapsWidthAndHeight()
    {
        // orientation6.jpg stores 6x4 pixels tagged "rotate 90° clockwise to display".
        ImageBuffer image = SkiaImageCodec.Decode(Convert.FromBase64String(FindDecodeCase("orientation6.jpg").GetProperty("encoded").GetString()!));
        Assert.Equal((4, 6), (image.Width, image.Height));
    }

    [Theory]
    [InlineData("images/astronaut.png", 512, 512)]
    [InlineData("images/coffee.png", 600, 400)]
    public void LoadReadsSharedPhotosLikePillow(string file, int width, int height)
    {
        ImageBuffer image = SkiaImageCodec.Load(SharedData.Require(file));
        Assert.Equal((width, height), (image.Width, image.Height));
        Assert.Equal(PhotoHash(file, "decode"), Sha256(image));
    }

    [Fact]
    public void PngSaveReloadsBitExact()
    {
        ImageBuffer photo = SkiaImageCodec.Load(SharedData.Require("images/coffee.png"));
        string path = Path.Combine(_folder, "coffee.png");
        SkiaImageCodec.Save(photo, path);
        ImageBuffer reloaded = SkiaImageCodec.Load(path);
        Assert.Equal((photo.Width, photo.Height), (reloaded.Width, reloaded.Height));
        Assert.Equal(photo.Pixels, reloaded.Pixels);
    }

    [Fact]
    public void SaveLeavesNoTemporaryFileBehindAndReplacesAnExistingFile()
    {
        string path = Path.Combine(_folder, "out.png");
        File.WriteAllText(path, "old contents");
        SkiaImageCodec.Save(Gradient(16, 8), path);
        Assert.Equal([path], Directory.GetFiles(_folder));
        Assert.Equal(Gradient(16, 8).Pixels, SkiaImageCodec.Load(path).Pixels);
    }

    [Fact]
    public void JpegQualityTradesSizeForFidelity()
    {
        ImageBuffer photo = SkiaImageCodec.Load(SharedData.Require("images/astronaut.png"));
        string low = Path.Combine(_folder, "low.jpg"), high = Path.Combine(_folder, "high.jpeg");
        SkiaImageCodec.Save(photo, low, quality: 30);
        SkiaImageCodec.Save(photo, high, quality: 95);
        double lowPsnr = ImageQuality.PeakSignalToNoiseRatio(photo, SkiaImageCodec.Load(low));
        double highPsnr = ImageQuality.PeakSignalToNoiseRatio(photo, SkiaImageCodec.Load(high));
        Assert.True(new FileInfo(low).Length < new FileInfo(high).Length);
        Assert.True(lowPsnr < highPsnr, $"quality 30 gave {lowPsnr:F2} dB, quality 95 gave {highPsnr:F2} dB");
        Assert.True(highPsnr > 35, $"quality 95 gave only {highPsnr:F2} dB");
    }

    [Fact]
    public void WebpRoundTripIsClose()
    {
        ImageBuffer photo = SkiaImageCodec.Load(SharedData.Require("images/coffee.png"));
        string path = Path.Combine(_folder, "coffee.webp");
        SkiaImageCodec.Save(photo, path, quality: 90);
        ImageBuffer reloaded = SkiaImageCodec.Load(path);
        Assert.Equal((600, 400), (reloaded.Width, reloaded.Height));
        Assert.True(ImageQuality.PeakSignalToNoiseRatio(photo, reloaded) > 30);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' })]
    [InlineData(SKEncodedImageFormat.Jpeg, new byte[] { 0xFF, 0xD8, 0xFF })]
    [InlineData(SKEncodedImageFormat.Webp, new byte[] { (byte)'R', (byte)'I', (byte)'F', (byte)'F' })]
    public void EncodeWritesTheRequestedFormat(SKEncodedImageFormat format, byte[] magic)
    {
        byte[] encoded = SkiaImageCodec.Encode(Gradient(8, 8), format);
        Assert.Equal(magic, encoded.AsSpan(0, magic.Length).ToArray());
    }

    [Fact]
    public void EncodeRejectsFormatsSkiaCannotWrite()
        => Assert.Throws<ArgumentException>(() => SkiaImageCodec.Encode(Gradient(2, 2), SKEncodedImageFormat.Gif));

    [Fact]
    public void BadFileRaisesImageFormatExceptionNamingIt()
    {
        string path = Path.Combine(_folder, "not-an-image.png");
        File.WriteAllText(path, "this is text, not a PNG");
        var error = Assert.Throws<ImageFormatException>(() => SkiaImageCodec.Load(path));
        Assert.Equal(path, error.Path);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void TruncatedFileRaisesImageFormatException()
    {
        byte[] png = SkiaImageCodec.Encode(Gradient(64, 64), SKEncodedImageFormat.Png);
        string path = Path.Combine(_folder, "truncated.png");
        File.WriteAllBytes(path, png.AsSpan(0, png.Length / 2).ToArray());
        var error = Assert.Throws<ImageFormatException>(() => SkiaImageCodec.Load(path));
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void MissingFileRaisesImageFormatExceptionNamingIt()
    {
        string path = Path.Combine(_folder, "missing.png");
        var error = Assert.Throws<ImageFormatException>(() => SkiaImageCodec.Load(path));
        Assert.Equal(path, error.Path);
        Assert.IsType<FileNotFoundException>(error.InnerException);
    }

    [Fact]
    public void FailedSaveLeavesNothingBehind()
    {
        // The target is an existing folder, so the final move fails after the temporary file was written.
        string path = Path.Combine(_folder, "taken.png");
        Directory.CreateDirectory(path);
        Assert.ThrowsAny<IOException>(() => SkiaImageCodec.Save(Gradient(4, 4), path));
        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public void UnknownExtensionIsRejectedByName()
    {
        string path = Path.Combine(_folder, "picture.tiff");
        var error = Assert.Throws<ArgumentException>(() => SkiaImageCodec.Save(Gradient(2, 2), path));
        Assert.Contains("'.tiff'", error.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void BitmapRoundTripKeepsPixels()
    {
        ImageBuffer image = Gradient(7, 5);
        using SKBitmap bitmap = SkiaImageCodec.ToBitmap(image);
        Assert.Equal((7, 5), (bitmap.Width, bitmap.Height));
        Assert.Equal(image.Pixels, SkiaImageCodec.FromBitmap(bitmap).Pixels);
    }

    [Fact]
    public void FromBitmapConvertsOtherColourTypes()
    {
        // A BGRA premultiplied bitmap with an opaque red pixel reads back as RGB (255, 0, 0).
        using var bitmap = new SKBitmap(new SKImageInfo(1, 1, SKColorType.Bgra8888, SKAlphaType.Premul));
        bitmap.SetPixel(0, 0, new SKColor(255, 0, 0, 255));
        Assert.Equal(new byte[] { 255, 0, 0 }, SkiaImageCodec.FromBitmap(bitmap).Pixels);
    }

    [Fact]
    public void ResizingALoadedPhotoMatchesPillow()
    {
        // End to end: Skia decode + ImageOperations must reproduce Pillow's resize and diffusers' crop mode.
        var photos = new Dictionary<string, ImageBuffer>();
        foreach (JsonElement item in LoadJson("photo-resize-reference.json").GetProperty("photos").EnumerateArray())
        {
            string mode = item.GetProperty("mode").GetString()!;
            if (mode == "decode")
                continue;
            string file = item.GetProperty("file").GetString()!;
            if (!photos.TryGetValue(file, out ImageBuffer? photo))
                photos[file] = photo = SkiaImageCodec.Load(SharedData.Require(file));
            var filter = Enum.Parse<ResamplingFilter>(item.GetProperty("filter").GetString()!);
            int width = item.GetProperty("width").GetInt32(), height = item.GetProperty("height").GetInt32();
            ImageBuffer result = mode == "cover"
                ? ImageOperations.ResizeToCover(photo, width, height, filter)
                : ImageOperations.Resize(photo, width, height, filter);
            Assert.True(item.GetProperty("sha256").GetString() == Sha256(result), $"{file} {mode} {filter} {width}x{height} differs from Pillow");
        }
    }

    private static ImageBuffer Gradient(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = 3 * (y * width + x);
                pixels[i] = (byte)(x * 255 / Math.Max(1, width - 1));
                pixels[i + 1] = (byte)(y * 255 / Math.Max(1, height - 1));
                pixels[i + 2] = (byte)((x + y) * 7);
            }
        return new ImageBuffer(width, height, pixels);
    }

    private static string Sha256(ImageBuffer image) => Convert.ToHexStringLower(SHA256.HashData(image.Pixels));

    private static string PhotoHash(string file, string mode)
    {
        foreach (JsonElement item in LoadJson("photo-resize-reference.json").GetProperty("photos").EnumerateArray())
            if (item.GetProperty("file").GetString() == file && item.GetProperty("mode").GetString() == mode)
                return item.GetProperty("sha256").GetString()!;
        throw new InvalidOperationException($"No {mode} reference for {file}.");
    }

    private static JsonElement FindDecodeCase(string name)
    {
        foreach (JsonElement item in LoadJson("decode-reference.json").GetProperty("decode").EnumerateArray())
            if (item.GetProperty("name").GetString() == name)
                return item;
        throw new InvalidOperationException($"No decode reference named {name}.");
    }

    private static JsonElement LoadJson(string name)
        => JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", name))).RootElement;
}
