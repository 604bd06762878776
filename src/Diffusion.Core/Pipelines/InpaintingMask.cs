using Diffusion.Core.Imaging;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The pixel-space pieces of image-to-image and inpainting: the target size rule, the binarised mask, its
/// latent-resolution form, the masked image, the feathered alpha and the paste-back of the original pixels.
/// </summary>
internal static class InpaintingMask
{
    /// <summary>
    /// diffusers' <c>VaeImageProcessor.get_default_height_width</c>: a given size is used as is (it is validated as a
    /// multiple of 8), a missing one is the image's, rounded down to a multiple of 8.
    /// </summary>
    public static (int Width, int Height) ResolveSize(ImageBuffer image, int? width, int? height)
    {
        int w = width ?? image.Width - image.Width % 8;
        int h = height ?? image.Height - image.Height % 8;
        if (w < 8 || h < 8)
            throw new InvalidOptionException(nameof(GenerationOptions.InitImage),
                $"the image is {image.Width}x{image.Height}; both sides must be at least 8 pixels (the VAE downsamples by 8).");
        return (w, h);
    }

    /// <summary>Pillow's <c>resize((width, height), LANCZOS)</c> as diffusers' processor does; the image itself when the size already fits.</summary>
    public static ImageBuffer Fit(ImageBuffer image, int width, int height)
        => image.Width == width && image.Height == height ? image : ImageOperations.Resize(image, width, height, ResamplingFilter.Lanczos);

    /// <summary>The mask as 0/1 at pixel resolution (diffusers' <c>mask_processor</c>: luma, binarised at 0.5).</summary>
    public static float[] Binarize(ImageBuffer mask)
    {
        var values = new float[mask.Width * mask.Height];
        ImageTensorConverter.ToMaskTensor(mask, values);
        return values;
    }

    /// <summary>
    /// torch's <c>interpolate(mask, size=(h/8, w/8))</c> (mode nearest): latent (y, x) takes pixel (8y, 8x).
    /// </summary>
    public static float[] ToLatentResolution(ReadOnlySpan<float> mask, int width, int height)
    {
        int latentWidth = width / 8, latentHeight = height / 8;
        var result = new float[latentWidth * latentHeight];
        for (int y = 0; y < latentHeight; y++)
        {
            for (int x = 0; x < latentWidth; x++)
                result[y * latentWidth + x] = mask[8 * y * width + 8 * x];
        }
        return result;
    }

    /// <summary>diffusers' <c>masked_image = init_image * (mask &lt; 0.5)</c>: the repainted region set to 0 (mid gray) in the [-1, 1] image tensor.</summary>
    public static void ClearMasked(Span<float> imageChw, ReadOnlySpan<float> mask)
    {
        int plane = mask.Length;
        for (int c = 0; c < 3; c++)
        {
            Span<float> channel = imageChw.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++)
            {
                if (mask[i] >= 0.5f)
                    channel[i] = 0f;
            }
        }
    }

    /// <summary>
    /// The paste-back alpha: the binary mask blurred by a Gaussian of standard deviation <paramref name="radius"/>/2,
    /// truncated at <paramref name="radius"/> pixels. A pixel farther than <paramref name="radius"/> from every masked
    /// pixel gets alpha exactly 0; radius 0 is the binary mask.
    /// </summary>
    public static float[] Feather(float[] mask, int width, int height, int radius)
    {
        if (radius <= 0)
            return mask;
        float sigma = radius / 2f;
        var kernel = new float[2 * radius + 1];
        float sum = 0;
        for (int k = -radius; k <= radius; k++)
            sum += kernel[k + radius] = MathF.Exp(-(k * k) / (2 * sigma * sigma));
        for (int k = 0; k < kernel.Length; k++)
            kernel[k] /= sum;

        var horizontal = new float[mask.Length];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                float value = 0;
                for (int k = -radius; k <= radius; k++)
                {
                    int sx = Math.Clamp(x + k, 0, width - 1);
                    value += kernel[k + radius] * mask[y * width + sx];
                }
                horizontal[y * width + x] = value;
            }
        }
        var result = new float[mask.Length];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                float value = 0;
                for (int k = -radius; k <= radius; k++)
                {
                    int sy = Math.Clamp(y + k, 0, height - 1);
                    value += kernel[k + radius] * horizontal[sy * width + x];
                }
                // Masked pixels stay fully repainted; rounding noise near 0 or 1 is snapped.
                result[y * width + x] = mask[y * width + x] >= 0.5f ? 1f : value < 1e-6f ? 0f : Math.Min(value, 1f);
            }
        }
        return result;
    }

    /// <summary>
    /// <c>out = original·(1 − α) + generated·α</c> per pixel, rounded to the nearest byte: where α = 0 the original
    /// bytes come back unchanged (A1111's inpainting overlay).
    /// </summary>
    public static void PasteOriginal(ImageBuffer generated, ImageBuffer original, ReadOnlySpan<float> alpha)
    {
        byte[] target = generated.Pixels;
        byte[] source = original.Pixels;
        for (int i = 0; i < alpha.Length; i++)
        {
            float a = alpha[i];
            if (a >= 1f)
                continue;
            for (int c = 3 * i; c < 3 * i + 3; c++)
                target[c] = a <= 0f ? source[c] : (byte)MathF.Round(source[c] + (target[c] - source[c]) * a);
        }
    }
}
