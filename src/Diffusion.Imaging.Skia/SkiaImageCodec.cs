using Diffusion.Core.Imaging;
using SkiaSharp;

namespace Diffusion.Imaging.Skia;

/// <summary>
/// Reads and writes image files as <see cref="ImageBuffer"/>s with SkiaSharp: PNG, JPEG, WebP, BMP, GIF (first
/// frame) and ICO in; PNG, JPEG and WebP out.
/// </summary>
/// <remarks>
/// Decoding follows what diffusers' <c>load_image</c> does with Pillow, so a file feeds the pipeline the same bytes:
/// <list type="bullet">
/// <item><description>Alpha is dropped, not composited: the stored (unpremultiplied) colour of each pixel is kept, as
/// Pillow's <c>convert("RGB")</c> does. Grayscale and palette images expand to RGB.</description></item>
/// <item><description>The EXIF orientation is applied (Pillow's <c>ImageOps.exif_transpose</c>), so a portrait photo
/// comes back upright, with width and height swapped where the orientation says so.</description></item>
/// <item><description>No colour management: embedded ICC profiles are ignored, as Pillow ignores them.</description></item>
/// </list>
/// Encoding writes opaque images (PNG without an alpha channel). PNG output reloads bit-exact.
/// </remarks>
public static class SkiaImageCodec
{
    /// <summary>Default JPEG/WebP quality for <see cref="Save"/> and <see cref="Encode"/>.</summary>
    public const int DefaultQuality = 95;

    /// <summary>Loads an image file (format detected from its contents, not its name), refusing images over <see cref="ImageDecodeOptions.DefaultMaxPixels"/>.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The decoded RGB image.</returns>
    /// <exception cref="ImageFormatException">The file is missing, unreadable, not a supported image, truncated, or larger than the pixel limit; the message names the file.</exception>
    public static ImageBuffer Load(string path) => Load(path, ImageDecodeOptions.Default);

    /// <summary>Loads an image file (format detected from its contents, not its name) within <paramref name="options"/>' bounds.</summary>
    /// <param name="path">The file to read.</param>
    /// <param name="options">The decoding bounds (pixel limit).</param>
    /// <returns>The decoded RGB image.</returns>
    /// <exception cref="ImageFormatException">The file is missing, unreadable, not a supported image, truncated, or larger than the pixel limit; the message names the file.</exception>
    public static ImageBuffer Load(string path, ImageDecodeOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        byte[] encoded;
        try
        {
            encoded = File.ReadAllBytes(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ImageFormatException(path, $"cannot read the file: {error.Message}", error);
        }
        return DecodeCore(encoded, path, options);
    }

    /// <summary>Decodes an encoded image (PNG, JPEG, WebP, BMP, ...) held in memory, refusing images over <see cref="ImageDecodeOptions.DefaultMaxPixels"/>.</summary>
    /// <param name="encoded">The file's bytes.</param>
    /// <returns>The decoded RGB image.</returns>
    /// <exception cref="ImageFormatException">The bytes are not a supported image, are truncated, or declare more pixels than the limit.</exception>
    public static ImageBuffer Decode(ReadOnlySpan<byte> encoded) => Decode(encoded, ImageDecodeOptions.Default);

    /// <summary>Decodes an encoded image (PNG, JPEG, WebP, BMP, ...) held in memory within <paramref name="options"/>' bounds.</summary>
    /// <param name="encoded">The file's bytes.</param>
    /// <param name="options">The decoding bounds (pixel limit).</param>
    /// <returns>The decoded RGB image.</returns>
    /// <exception cref="ImageFormatException">The bytes are not a supported image, are truncated, or declare more pixels than the limit.</exception>
    public static ImageBuffer Decode(ReadOnlySpan<byte> encoded, ImageDecodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return DecodeCore(encoded, path: null, options);
    }

    /// <summary>
    /// Saves <paramref name="image"/> in the format its extension names: <c>.png</c>, <c>.jpg</c>/<c>.jpeg</c> or
    /// <c>.webp</c> (case-insensitive). The image is written to a temporary file in the same folder and then moved
    /// over <paramref name="path"/>, so a failure never leaves a half-written file behind.
    /// </summary>
    /// <param name="image">The image to save.</param>
    /// <param name="path">The destination; an existing file is replaced.</param>
    /// <param name="quality">JPEG/WebP quality, 0–100 (ignored for PNG, which is lossless).</param>
    /// <param name="pngText">Text chunks to add to a PNG (keyword, text), e.g. <c>parameters</c> with the generation's
    /// settings (see <see cref="PngTextChunk"/>); only for <c>.png</c> paths.</param>
    /// <exception cref="ArgumentException">The extension is not one of the supported ones (the message names it), or text chunks were given for a format other than PNG.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="quality"/> is outside 0–100.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save(ImageBuffer image, string path, int quality = DefaultQuality, IEnumerable<KeyValuePair<string, string>>? pngText = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(path);
        SKEncodedImageFormat format = FormatFromExtension(path);
        byte[] encoded = Encode(image, format, quality);
        if (pngText is not null)
        {
            if (format != SKEncodedImageFormat.Png)
                throw new ArgumentException($"{path}: text chunks are a PNG feature; save as .png to keep them.", nameof(pngText));
            foreach (var (keyword, text) in pngText.Reverse())
                encoded = PngTextChunk.Insert(encoded, keyword, text); // each goes right after IHDR: reversed, they keep their order
        }
        string fullPath = System.IO.Path.GetFullPath(path);
        string folder = System.IO.Path.GetDirectoryName(fullPath)!;
        string temporary = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllBytes(temporary, encoded);
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>Encodes <paramref name="image"/> as PNG, JPEG or WebP.</summary>
    /// <param name="image">The image to encode.</param>
    /// <param name="format"><see cref="SKEncodedImageFormat.Png"/>, <see cref="SKEncodedImageFormat.Jpeg"/> or <see cref="SKEncodedImageFormat.Webp"/>.</param>
    /// <param name="quality">JPEG/WebP quality, 0–100 (ignored for PNG). JPEG uses 4:2:0 chroma subsampling below 100 and none at 100.</param>
    /// <returns>The encoded file's bytes.</returns>
    /// <exception cref="ArgumentException">The format cannot be encoded.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="quality"/> is outside 0–100.</exception>
    public static byte[] Encode(ImageBuffer image, SKEncodedImageFormat format, int quality = DefaultQuality)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        using SKBitmap bitmap = ToBitmap(image);
        using SKPixmap pixmap = bitmap.PeekPixels();
        using SKData? data = format switch
        {
            SKEncodedImageFormat.Png => pixmap.Encode(SKPngEncoderOptions.Default),
            SKEncodedImageFormat.Jpeg => pixmap.Encode(new SKJpegEncoderOptions(
                quality,
                quality == 100 ? SKJpegEncoderDownsample.Downsample444 : SKJpegEncoderDownsample.Downsample420,
                SKJpegEncoderAlphaOption.Ignore)),
            SKEncodedImageFormat.Webp => pixmap.Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossy, quality)),
            _ => throw new ArgumentException($"Cannot encode {format}; supported formats are Png, Jpeg and Webp.", nameof(format)),
        };
        if (data is null)
            throw new ImageFormatException(null, $"SkiaSharp failed to encode a {image.Width}x{image.Height} image as {format}.");
        return data.ToArray();
    }

    /// <summary>Copies <paramref name="image"/> into a new opaque <see cref="SKColorType.Rgba8888"/> bitmap (alpha 255).</summary>
    /// <param name="image">The image to copy.</param>
    /// <returns>A bitmap the caller owns and must dispose.</returns>
    /// <exception cref="ArgumentException">The image has more pixels than one RGBA bitmap can hold.</exception>
    public static SKBitmap ToBitmap(ImageBuffer image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if ((long)image.Width * image.Height > ImageDecodeOptions.HardMaxPixels)
            throw new ArgumentException($"A {image.Width}x{image.Height} image has more pixels than one RGBA bitmap can hold ({ImageDecodeOptions.HardMaxPixels:N0}).", nameof(image));
        var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Span<byte> rgba = bitmap.GetPixelSpan();
        int rowBytes = bitmap.RowBytes;
        ReadOnlySpan<byte> rgb = image.Pixels;
        for (int y = 0; y < image.Height; y++)
        {
            ReadOnlySpan<byte> source = rgb.Slice(y * image.Width * 3, image.Width * 3);
            Span<byte> target = rgba.Slice(y * rowBytes, image.Width * 4);
            for (int x = 0; x < image.Width; x++)
            {
                target[4 * x] = source[3 * x];
                target[4 * x + 1] = source[3 * x + 1];
                target[4 * x + 2] = source[3 * x + 2];
                target[4 * x + 3] = 255;
            }
        }
        return bitmap;
    }

    /// <summary>
    /// Copies a bitmap of any colour type into a new <see cref="ImageBuffer"/>. Premultiplied pixels are
    /// unpremultiplied first; alpha is then dropped (see the class remarks).
    /// </summary>
    /// <param name="bitmap">The bitmap to read.</param>
    /// <returns>The RGB image.</returns>
    /// <exception cref="ArgumentException">The bitmap is empty, too large for one RGBA buffer, or its pixels cannot be converted to RGBA.</exception>
    public static ImageBuffer FromBitmap(SKBitmap bitmap)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        if (bitmap.Width <= 0 || bitmap.Height <= 0)
            throw new ArgumentException("The bitmap has no pixels.", nameof(bitmap));
        // SKImageInfo.BytesSize is an Int32 that wraps for large bitmaps (60000² RGBA is 14.4 GB): size in 64 bits.
        if ((long)bitmap.Width * bitmap.Height > ImageDecodeOptions.HardMaxPixels)
            throw new ArgumentException($"A {bitmap.Width}x{bitmap.Height} bitmap has more pixels than one RGBA buffer can hold ({ImageDecodeOptions.HardMaxPixels:N0}).", nameof(bitmap));
        var info = new SKImageInfo(bitmap.Width, bitmap.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        byte[] rgba = new byte[RgbaByteCount(bitmap.Width, bitmap.Height)];
        using (SKPixmap? pixmap = bitmap.PeekPixels())
        {
            if (pixmap is null || !ReadPixels(pixmap, info, rgba))
                throw new ArgumentException($"Cannot convert a {bitmap.ColorType} bitmap to RGBA.", nameof(bitmap));
        }
        return FromRgba(rgba, bitmap.Width, bitmap.Height, SKEncodedOrigin.TopLeft);
    }

    private static ImageBuffer DecodeCore(ReadOnlySpan<byte> encoded, string? path, ImageDecodeOptions options)
    {
        if (encoded.IsEmpty)
            throw new ImageFormatException(path, "the image data is empty.");
        using SKData data = SKData.CreateCopy(encoded);
        using SKCodec? codec = SKCodec.Create(data);
        if (codec is null)
            throw new ImageFormatException(path, "not a supported image format (expected PNG, JPEG, WebP, BMP, GIF or ICO).");
        SKImageInfo stored = codec.Info;
        // The header's size, checked in 64 bits before any pixel memory exists (SKImageInfo.BytesSize wraps at 2 GB).
        long pixelCount = (long)stored.Width * stored.Height;
        if (stored.Width <= 0 || stored.Height <= 0)
            throw new ImageFormatException(path, $"the image declares an empty size ({stored.Width}x{stored.Height}).");
        if (pixelCount > options.MaxPixels)
        {
            throw new ImageFormatException(path,
                $"the image declares {stored.Width}x{stored.Height} = {pixelCount:N0} pixels, over the limit of {options.MaxPixels:N0} (ImageDecodeOptions.MaxPixels).");
        }
        // No colour space on the target: Skia then copies the stored values without colour conversion, like Pillow.
        var info = new SKImageInfo(stored.Width, stored.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        byte[] rgba = new byte[RgbaByteCount(stored.Width, stored.Height)];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* pixels = rgba)
                result = codec.GetPixels(info, (IntPtr)pixels);
        }
        if (result != SKCodecResult.Success)
            throw new ImageFormatException(path, result == SKCodecResult.IncompleteInput
                ? "the image data is truncated."
                : $"cannot decode the {codec.EncodedFormat} data ({result}).");
        return FromRgba(rgba, stored.Width, stored.Height, codec.EncodedOrigin);
    }

    /// <summary>Bytes of a tightly packed RGBA buffer; the callers have bounded width·height by <see cref="ImageDecodeOptions.HardMaxPixels"/>.</summary>
    private static int RgbaByteCount(int width, int height) => checked(width * height * 4);

    /// <summary>Best-effort cleanup that never hides the error being reported.</summary>
    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path); // no-op when it was never created
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // The original failure matters more than a leftover temporary file.
        }
    }

    private static bool ReadPixels(SKPixmap pixmap, SKImageInfo info, byte[] destination)
    {
        unsafe
        {
            fixed (byte* pixels = destination)
                return pixmap.ReadPixels(info, (IntPtr)pixels, info.RowBytes);
        }
    }

    /// <summary>Drops alpha and applies the EXIF orientation (stored → displayed, as Pillow's exif_transpose).</summary>
    private static ImageBuffer FromRgba(ReadOnlySpan<byte> rgba, int width, int height, SKEncodedOrigin origin)
    {
        bool swapsAxes = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
            or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int outWidth = swapsAxes ? height : width;
        int outHeight = swapsAxes ? width : height;
        var rgb = new byte[outWidth * outHeight * 3];
        if (origin is SKEncodedOrigin.TopLeft)
        {
            for (int i = 0, pixelCount = width * height; i < pixelCount; i++)
            {
                rgb[3 * i] = rgba[4 * i];
                rgb[3 * i + 1] = rgba[4 * i + 1];
                rgb[3 * i + 2] = rgba[4 * i + 2];
            }
            return new ImageBuffer(width, height, rgb);
        }
        for (int y = 0; y < outHeight; y++)
        {
            for (int x = 0; x < outWidth; x++)
            {
                // (sx, sy): the stored pixel shown at displayed position (x, y).
                (int sx, int sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (width - 1 - x, y),                // mirror horizontally
                    SKEncodedOrigin.BottomRight => (width - 1 - x, height - 1 - y), // rotate 180°
                    SKEncodedOrigin.BottomLeft => (x, height - 1 - y),             // mirror vertically
                    SKEncodedOrigin.LeftTop => (y, x),                             // transpose
                    SKEncodedOrigin.RightTop => (y, height - 1 - x),               // rotate 90° clockwise
                    SKEncodedOrigin.RightBottom => (width - 1 - y, height - 1 - x), // transverse
                    SKEncodedOrigin.LeftBottom => (width - 1 - y, x),              // rotate 90° counter-clockwise
                    _ => (x, y),
                };
                int source = 4 * (sy * width + sx);
                int target = 3 * (y * outWidth + x);
                rgb[target] = rgba[source];
                rgb[target + 1] = rgba[source + 1];
                rgb[target + 2] = rgba[source + 2];
            }
        }
        return new ImageBuffer(outWidth, outHeight, rgb);
    }

    private static SKEncodedImageFormat FormatFromExtension(string path)
    {
        string extension = System.IO.Path.GetExtension(path);
        return extension.ToLowerInvariant() switch
        {
            ".png" => SKEncodedImageFormat.Png,
            ".jpg" or ".jpeg" => SKEncodedImageFormat.Jpeg,
            ".webp" => SKEncodedImageFormat.Webp,
            _ => throw new ArgumentException(
                $"Cannot save '{path}': unknown image extension '{extension}' (use .png, .jpg, .jpeg or .webp).", nameof(path)),
        };
    }
}
