namespace Diffusion.Core.Imaging;

/// <summary>
/// A cheap preview of SD 1.x/2.x latents without running the VAE: each latent pixel maps to one RGB pixel through a
/// fixed linear projection, so a 64×64 latent gives a 64×64 thumbnail in microseconds, good enough to watch the
/// composition form during denoising.
/// </summary>
/// <remarks>
/// The 4×3 factors (rows = latent channels, columns = R, G, B) are Keturn's least-squares fit published in
/// "Decoding latents to RGB without upscaling" (discuss.huggingface.co/t/23204) and used by AUTOMATIC1111's
/// "Approx cheap" preview:
/// <code>
///   [ 0.298,  0.207,  0.208]
///   [ 0.187,  0.286,  0.173]
///   [-0.158,  0.189,  0.264]
///   [-0.184, -0.271, -0.473]
/// </code>
/// They apply to the latents the UNet sees (already multiplied by the VAE scaling factor 0.18215). The projected
/// value, nominally in [-1, 1], becomes a byte by the same rule as <see cref="ImageTensorConverter"/>.
/// </remarks>
public static class LatentPreview
{
    /// <summary>Number of latent channels the factors expect.</summary>
    public const int LatentChannels = 4;

    // Row-major [latent channel, RGB]; float32 like the reference tensors.
    private static ReadOnlySpan<float> Factors =>
    [
        0.298f, 0.207f, 0.208f,
        0.187f, 0.286f, 0.173f,
        -0.158f, 0.189f, 0.264f,
        -0.184f, -0.271f, -0.473f,
    ];

    /// <summary>Projects one latent (4 × <paramref name="height"/> × <paramref name="width"/>, CHW) to a new RGB image of the latent's size.</summary>
    /// <param name="latents">The latent of one image: four channel planes, each row-major.</param>
    /// <param name="height">Latent height (image height / 8).</param>
    /// <param name="width">Latent width (image width / 8).</param>
    /// <returns>A <paramref name="width"/>×<paramref name="height"/> preview.</returns>
    /// <exception cref="ArgumentException">A size is not positive or <paramref name="latents"/> does not hold 4·height·width values.</exception>
    public static ImageBuffer ToImage(ReadOnlySpan<float> latents, int height, int width)
    {
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"Latent size must be positive, got {height}x{width}.", nameof(height));
        var image = new ImageBuffer(width, height);
        ToImage(latents, image);
        return image;
    }

    /// <summary>Projects one latent into an existing image whose size is the latent's height and width, without allocating.</summary>
    /// <param name="latents">4 × destination.Height × destination.Width values, CHW.</param>
    /// <param name="destination">The image to overwrite.</param>
    /// <exception cref="ArgumentException"><paramref name="latents"/> has the wrong length.</exception>
    public static void ToImage(ReadOnlySpan<float> latents, ImageBuffer destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        int plane = destination.Width * destination.Height;
        if (latents.Length != LatentChannels * plane)
            throw new ArgumentException(
                $"Expected a latent of 4x{destination.Height}x{destination.Width} = {LatentChannels * plane} values, got {latents.Length}.",
                nameof(latents));
        ReadOnlySpan<float> factors = Factors;
        Span<byte> pixels = destination.Pixels;
        for (int i = 0; i < plane; i++)
        {
            float l0 = latents[i], l1 = latents[plane + i], l2 = latents[2 * plane + i], l3 = latents[3 * plane + i];
            for (int c = 0; c < 3; c++)
            {
                float value = l0 * factors[c] + l1 * factors[3 + c] + l2 * factors[6 + c] + l3 * factors[9 + c];
                pixels[3 * i + c] = ImageTensorConverter.QuantizeScalar(value);
            }
        }
    }
}
