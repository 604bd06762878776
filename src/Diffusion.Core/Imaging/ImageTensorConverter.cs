using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Diffusion.Core.Imaging;

/// <summary>
/// Converts between <see cref="ImageBuffer"/> (interleaved RGB bytes) and the planar float tensors the
/// VAE reads and writes (NCHW, channels R, G, B, values in [-1, 1]).
/// </summary>
/// <remarks>
/// <para>Both directions reproduce diffusers' <c>VaeImageProcessor</c> bit for bit (float32 arithmetic,
/// no fused multiply-add):</para>
/// <list type="bullet">
/// <item><description>tensor → image (<c>postprocess</c>: <c>denormalize</c>, then <c>numpy_to_pil</c>):
/// <c>v = clamp(x * 0.5 + 0.5, 0, 1)</c>, then <c>round(v * 255)</c> with numpy's round-half-to-even.
/// So 0.0 → 128 (127.5 rounds to the even 128), −1 → 0, 1 → 255, anything beyond ±1 saturates, and NaN → 0
/// (numpy's <c>astype(uint8)</c> of NaN gives 0 on x86-64).</description></item>
/// <item><description>image → tensor (<c>preprocess</c>: <c>pil_to_numpy</c>, then <c>normalize</c>):
/// <c>2 * (b / 255) - 1</c> in float32, which equals <c>b / 127.5 - 1</c> for all 256 byte values.</description></item>
/// </list>
/// <para>Every byte survives image → tensor → image unchanged. <see cref="ToUnitTensor(ImageBuffer, Span{float})"/>
/// and <see cref="ToMaskTensor"/> give the un-normalised [0, 1] form (ControlNet conditioning) and the binarised
/// inpainting mask.</para>
/// </remarks>
public static class ImageTensorConverter
{
    /// <summary>Elements converted per pass; three channels of this many levels live on the stack.</summary>
    private const int ChunkLength = 512;

    /// <summary>2²³: adding then subtracting it rounds a float in [0, 2²³) to a whole number, half to even.</summary>
    private const float RoundingBias = 8388608f;

    /// <summary>The 256 possible results of image → [-1, 1] tensor, so that direction is a table lookup.</summary>
    private static readonly float[] s_byteToSigned = CreateByteTable(signed: true);

    /// <summary>The 256 possible results of image → [0, 1] tensor.</summary>
    private static readonly float[] s_byteToUnit = CreateByteTable(signed: false);

    /// <summary>
    /// Converts a batch of NCHW tensors (<paramref name="batch"/> × 3 × <paramref name="height"/> × <paramref name="width"/>,
    /// values in [-1, 1]) into new images, one per batch entry.
    /// </summary>
    /// <param name="nchw">The tensor, batch-major, then channel planes R, G, B, each row-major.</param>
    /// <param name="batch">Number of images in the tensor.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <returns>One image per batch entry.</returns>
    /// <exception cref="ArgumentException">A size is not positive or <paramref name="nchw"/> does not hold exactly batch·3·height·width values.</exception>
    public static ImageBuffer[] FromTensor(ReadOnlySpan<float> nchw, int batch, int height, int width)
    {
        CheckTensorShape(nchw.Length, batch, height, width, nameof(nchw));
        var images = new ImageBuffer[batch];
        for (int n = 0; n < batch; n++)
            images[n] = new ImageBuffer(width, height);
        FromTensor(nchw, images);
        return images;
    }

    /// <summary>
    /// Converts a batch of NCHW tensors into existing images without allocating. The batch size is
    /// <c>destinations.Length</c>; all destinations must share one size, which gives the tensor's height and width.
    /// </summary>
    /// <param name="nchw">The tensor: destinations.Length × 3 × height × width values.</param>
    /// <param name="destinations">The images to overwrite, in batch order.</param>
    /// <exception cref="ArgumentException">No destination, destinations of different sizes, or a tensor of the wrong length.</exception>
    public static void FromTensor(ReadOnlySpan<float> nchw, ReadOnlySpan<ImageBuffer> destinations)
    {
        if (destinations.IsEmpty)
            throw new ArgumentException("At least one destination image is required.", nameof(destinations));
        ImageBuffer first = destinations[0] ?? throw new ArgumentNullException(nameof(destinations));
        int width = first.Width, height = first.Height;
        for (int n = 1; n < destinations.Length; n++)
        {
            ImageBuffer image = destinations[n] ?? throw new ArgumentNullException(nameof(destinations));
            if (image.Width != width || image.Height != height)
                throw new ArgumentException(
                    $"Destination {n} is {image.Width}x{image.Height} but destination 0 is {width}x{height}; a batch shares one size.",
                    nameof(destinations));
        }
        CheckTensorShape(nchw.Length, destinations.Length, height, width, nameof(nchw));
        int imageLength = 3 * height * width;
        for (int n = 0; n < destinations.Length; n++)
            WriteImage(nchw.Slice(n * imageLength, imageLength), destinations[n].Pixels);
    }

    /// <summary>Converts one CHW tensor (3 × height × width, values in [-1, 1]) into an existing image of that size without allocating.</summary>
    /// <param name="chw">The tensor: planes R, G, B of <c>destination.Height × destination.Width</c> values each.</param>
    /// <param name="destination">The image to overwrite.</param>
    /// <exception cref="ArgumentException"><paramref name="chw"/> does not hold exactly 3·height·width values.</exception>
    public static void FromTensor(ReadOnlySpan<float> chw, ImageBuffer destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        CheckTensorShape(chw.Length, 1, destination.Height, destination.Width, nameof(chw));
        WriteImage(chw, destination.Pixels);
    }

    /// <summary>Converts an image into a CHW tensor (3 × height × width) with values in [-1, 1].</summary>
    /// <param name="image">The image to read.</param>
    /// <param name="destination">Receives planes R, G, B; must hold exactly 3·height·width values.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length.</exception>
    public static void ToTensor(ImageBuffer image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckTensorShape(destination.Length, 1, image.Height, image.Width, nameof(destination));
        ReadImage(image.Pixels, destination, s_byteToSigned);
    }

    /// <summary>Converts a batch of same-sized images into one NCHW tensor with values in [-1, 1].</summary>
    /// <param name="images">The images, in batch order; all the same size.</param>
    /// <param name="destination">Receives images.Length × 3 × height × width values.</param>
    /// <exception cref="ArgumentException">No image, images of different sizes, or a destination of the wrong length.</exception>
    public static void ToTensor(ReadOnlySpan<ImageBuffer> images, Span<float> destination)
        => ReadBatch(images, destination, s_byteToSigned);

    /// <summary>
    /// Converts an image into a CHW tensor with values in [0, 1] (<c>b / 255</c> in float32): diffusers'
    /// <c>VaeImageProcessor</c> with <c>do_normalize=False</c>, the form ControlNet conditioning images take.
    /// </summary>
    /// <param name="image">The image to read.</param>
    /// <param name="destination">Receives planes R, G, B; must hold exactly 3·height·width values.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length.</exception>
    public static void ToUnitTensor(ImageBuffer image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckTensorShape(destination.Length, 1, image.Height, image.Width, nameof(destination));
        ReadImage(image.Pixels, destination, s_byteToUnit);
    }

    /// <summary>Converts a batch of same-sized images into one NCHW tensor with values in [0, 1] (see <see cref="ToUnitTensor(ImageBuffer, Span{float})"/>).</summary>
    /// <param name="images">The images, in batch order; all the same size.</param>
    /// <param name="destination">Receives images.Length × 3 × height × width values.</param>
    /// <exception cref="ArgumentException">No image, images of different sizes, or a destination of the wrong length.</exception>
    public static void ToUnitTensor(ReadOnlySpan<ImageBuffer> images, Span<float> destination)
        => ReadBatch(images, destination, s_byteToUnit);

    /// <summary>
    /// Converts an inpainting mask into a 1 × height × width tensor of 0 and 1, as diffusers' mask processor does
    /// (<c>do_convert_grayscale</c>, <c>do_normalize=False</c>, <c>do_binarize</c>): Pillow's <c>convert("L")</c> luma
    /// <c>(19595·R + 38470·G + 7471·B + 32768) &gt;&gt; 16</c>, divided by 255, then 1 where ≥ 0.5 (luma ≥ 128), else 0.
    /// White (1) marks the region to repaint.
    /// </summary>
    /// <param name="mask">The mask image; gray masks loaded as RGB (equal channels) keep their gray value as luma.</param>
    /// <param name="destination">Receives height·width values.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> does not hold exactly height·width values.</exception>
    public static void ToMaskTensor(ImageBuffer mask, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(mask);
        int plane = mask.Width * mask.Height;
        if (destination.Length != plane)
            throw new ArgumentException(
                $"Expected a mask tensor of 1x{mask.Height}x{mask.Width} = {plane} values, got {destination.Length}.", nameof(destination));
        ReadOnlySpan<byte> rgb = mask.Pixels;
        for (int i = 0; i < plane; i++)
        {
            int luma = (rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 + 0x8000) >> 16;
            destination[i] = luma >= 128 ? 1f : 0f; // luma / 255f >= 0.5f exactly when luma >= 128
        }
    }

    private static void ReadBatch(ReadOnlySpan<ImageBuffer> images, Span<float> destination, float[] table)
    {
        if (images.IsEmpty)
            throw new ArgumentException("At least one image is required.", nameof(images));
        ImageBuffer first = images[0] ?? throw new ArgumentNullException(nameof(images));
        for (int n = 1; n < images.Length; n++)
        {
            ImageBuffer image = images[n] ?? throw new ArgumentNullException(nameof(images));
            if (image.Width != first.Width || image.Height != first.Height)
                throw new ArgumentException(
                    $"Image {n} is {image.Width}x{image.Height} but image 0 is {first.Width}x{first.Height}; a batch shares one size.",
                    nameof(images));
        }
        CheckTensorShape(destination.Length, images.Length, first.Height, first.Width, nameof(destination));
        int imageLength = 3 * first.Height * first.Width;
        for (int n = 0; n < images.Length; n++)
            ReadImage(images[n].Pixels, destination.Slice(n * imageLength, imageLength), table);
    }

    private static void CheckTensorShape(int length, int batch, int height, int width, string parameterName)
    {
        if (batch <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"Batch, height and width must be positive, got {batch}x3x{height}x{width}.", parameterName);
        long expected = (long)batch * 3 * height * width;
        if (length != expected)
            throw new ArgumentException(
                $"Expected a tensor of {batch}x3x{height}x{width} = {expected} values, got {length}.", parameterName);
    }

    /// <summary>One CHW image → interleaved RGB, in stack-sized chunks so the intermediate stays in L1.</summary>
    private static void WriteImage(ReadOnlySpan<float> chw, Span<byte> rgb)
    {
        int plane = chw.Length / 3;
        ReadOnlySpan<float> red = chw[..plane];
        ReadOnlySpan<float> green = chw.Slice(plane, plane);
        ReadOnlySpan<float> blue = chw.Slice(2 * plane, plane);
        Span<int> quantized = stackalloc int[3 * ChunkLength];
        Span<int> redLevels = quantized[..ChunkLength];
        Span<int> greenLevels = quantized.Slice(ChunkLength, ChunkLength);
        Span<int> blueLevels = quantized.Slice(2 * ChunkLength, ChunkLength);
        for (int start = 0; start < plane; start += ChunkLength)
        {
            int count = Math.Min(ChunkLength, plane - start);
            Quantize(red.Slice(start, count), redLevels);
            Quantize(green.Slice(start, count), greenLevels);
            Quantize(blue.Slice(start, count), blueLevels);
            Span<byte> target = rgb.Slice(3 * start, 3 * count);
            for (int i = 0; i < count; i++)
            {
                target[3 * i] = (byte)redLevels[i];
                target[3 * i + 1] = (byte)greenLevels[i];
                target[3 * i + 2] = (byte)blueLevels[i];
            }
        }
    }

    /// <summary>
    /// diffusers' rule in float32: <c>round_half_even(clamp(x * 0.5 + 0.5, 0, 1) * 255)</c>, NaN → 0. Rounding uses
    /// the <c>(v + 2²³) − 2²³</c> identity: for 0 ≤ v &lt; 2²³ the addition rounds to a whole number with the
    /// processor's round-to-nearest-even mode, exactly numpy's <c>round</c>.
    /// </summary>
    private static void Quantize(ReadOnlySpan<float> source, Span<int> destination)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && source.Length >= Vector256<float>.Count)
        {
            var half = Vector256.Create(0.5f);
            var one = Vector256.Create(1f);
            var scale = Vector256.Create(255f);
            var bias = Vector256.Create(RoundingBias);
            ref float sourceStart = ref MemoryMarshal.GetReference(source);
            ref int destinationStart = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256<float> x = Vector256.LoadUnsafe(ref sourceStart, (nuint)i);
                // Separate multiply and add, as torch evaluates them (x * 0.5 is exact, so a fused form would agree anyway).
                Vector256<float> v = x * half + half;
                // Keep v only where v > 0: this sends NaN (all comparisons false) and negatives to 0.
                v = Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256<float>.Zero), v, Vector256<float>.Zero);
                v = Vector256.ConditionalSelect(Vector256.GreaterThan(v, one), one, v);
                Vector256<float> scaled = v * scale; // rounded to float32 first, as numpy's x * 255
                v = (scaled + bias) - bias;
                Vector256.ConvertToInt32(v).StoreUnsafe(ref destinationStart, (nuint)i);
            }
        }
        else if (Vector128.IsHardwareAccelerated && source.Length >= Vector128<float>.Count)
        {
            var half = Vector128.Create(0.5f);
            var one = Vector128.Create(1f);
            var scale = Vector128.Create(255f);
            var bias = Vector128.Create(RoundingBias);
            ref float sourceStart = ref MemoryMarshal.GetReference(source);
            ref int destinationStart = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                Vector128<float> x = Vector128.LoadUnsafe(ref sourceStart, (nuint)i);
                Vector128<float> v = x * half + half;
                v = Vector128.ConditionalSelect(Vector128.GreaterThan(v, Vector128<float>.Zero), v, Vector128<float>.Zero);
                v = Vector128.ConditionalSelect(Vector128.GreaterThan(v, one), one, v);
                Vector128<float> scaled = v * scale;
                v = (scaled + bias) - bias;
                Vector128.ConvertToInt32(v).StoreUnsafe(ref destinationStart, (nuint)i);
            }
        }
        for (; i < source.Length; i++)
            destination[i] = QuantizeScalar(source[i]);
    }

    /// <summary>The scalar form of <see cref="Quantize"/>: one value in [-1, 1] → its byte by diffusers' rule.</summary>
    internal static byte QuantizeScalar(float x)
    {
        float v = x * 0.5f + 0.5f;
        if (!(v > 0f))
            v = 0f;
        else if (v > 1f)
            v = 1f;
        float scaled = v * 255f;
        return (byte)((scaled + RoundingBias) - RoundingBias);
    }

    /// <summary>Interleaved RGB → one CHW image via a 256-entry table.</summary>
    private static void ReadImage(ReadOnlySpan<byte> rgb, Span<float> chw, ReadOnlySpan<float> table)
    {
        int plane = chw.Length / 3;
        Span<float> red = chw[..plane];
        Span<float> green = chw.Slice(plane, plane);
        Span<float> blue = chw.Slice(2 * plane, plane);
        rgb = rgb[..(3 * plane)];
        for (int i = 0; i < plane; i++)
        {
            red[i] = table[rgb[3 * i]];
            green[i] = table[rgb[3 * i + 1]];
            blue[i] = table[rgb[3 * i + 2]];
        }
    }

    private static float[] CreateByteTable(bool signed)
    {
        var table = new float[256];
        for (int b = 0; b < table.Length; b++)
        {
            // diffusers: np.float32(b) / 255.0 (float32), then, when normalising, 2.0 * x - 1.0 (float32).
            float unit = b / 255f;
            table[b] = signed ? 2f * unit - 1f : unit;
        }
        return table;
    }
}
