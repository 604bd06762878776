namespace Diffusion.Core.Pipelines;

/// <summary>
/// FLUX.1's latent layout, as diffusers' FluxPipeline builds it: the VAE's [batch, C, h, w] latents packed into 2×2
/// patches of C·4 values per token (<c>_pack_latents</c>), unpacked again (<c>_unpack_latents</c>), and the position ids
/// the transformer's RoPE reads: image tokens (0, row, column) over the h/2 × w/2 grid
/// (<c>_prepare_latent_image_ids</c>), text tokens all zero.
/// </summary>
public static class FluxLatents
{
    /// <summary>Image tokens for a latent of <paramref name="latentHeight"/> × <paramref name="latentWidth"/> (both even): (h/2)·(w/2), the pipelines' <c>image_seq_len</c>.</summary>
    /// <exception cref="ArgumentException">A side is not a positive even number.</exception>
    public static int ImageSequenceLength(int latentHeight, int latentWidth)
    {
        RequireEven(latentHeight, latentWidth);
        return latentHeight / 2 * (latentWidth / 2);
    }

    /// <summary>
    /// <c>_pack_latents</c>: [batch, C, h, w] → [batch, (h/2)·(w/2), C·4], each token the 2×2 patch of every channel
    /// (channel-major, then patch row, then patch column).
    /// </summary>
    /// <exception cref="ArgumentException">The spans do not hold batch·C·h·w values or a side is odd.</exception>
    public static void Pack(ReadOnlySpan<float> latents, int batch, int channels, int height, int width, Span<float> packed)
        => Permute(latents, packed, batch, channels, height, width, pack: true);

    /// <summary><c>_unpack_latents</c>: the inverse of <see cref="Pack"/>.</summary>
    /// <exception cref="ArgumentException">The spans do not hold batch·C·h·w values or a side is odd.</exception>
    public static void Unpack(ReadOnlySpan<float> packed, int batch, int channels, int height, int width, Span<float> latents)
        => Permute(packed, latents, batch, channels, height, width, pack: false);

    /// <summary>Walks the packed order (batch, patch row, patch column, channel, dy, dx) and copies between the layouts.</summary>
    private static void Permute(ReadOnlySpan<float> source, Span<float> destination, int batch, int channels, int height, int width, bool pack)
    {
        RequireEven(height, width);
        RequireLength(source.Length, batch, channels, height, width, nameof(source));
        RequireLength(destination.Length, batch, channels, height, width, nameof(destination));
        int packedIndex = 0;
        for (int b = 0; b < batch; b++)
        {
            for (int r = 0; r < height / 2; r++)
            {
                for (int col = 0; col < width / 2; col++)
                {
                    for (int c = 0; c < channels; c++)
                    {
                        int plane = (b * channels + c) * height * width;
                        for (int dy = 0; dy < 2; dy++)
                        {
                            for (int dx = 0; dx < 2; dx++, packedIndex++)
                            {
                                int latentIndex = plane + (2 * r + dy) * width + 2 * col + dx;
                                if (pack)
                                    destination[packedIndex] = source[latentIndex];
                                else
                                    destination[latentIndex] = source[packedIndex];
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary><c>_prepare_latent_image_ids</c>: [(h/2)·(w/2), 3] rows (0, row, column), row-major over the token grid.</summary>
    /// <exception cref="ArgumentException">A side is not a positive even number.</exception>
    public static float[] ImageIds(int latentHeight, int latentWidth)
    {
        RequireEven(latentHeight, latentWidth);
        int rows = latentHeight / 2, columns = latentWidth / 2;
        var ids = new float[rows * columns * 3];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                int token = r * columns + c;
                ids[token * 3 + 1] = r;
                ids[token * 3 + 2] = c;
            }
        }
        return ids;
    }

    /// <summary>The text tokens' ids: [<paramref name="textTokens"/>, 3] zeros, as the pipeline passes them.</summary>
    public static float[] TextIds(int textTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(textTokens);
        return new float[textTokens * 3];
    }

    private static void RequireEven(int height, int width)
    {
        if (height < 2 || width < 2 || height % 2 != 0 || width % 2 != 0)
            throw new ArgumentException($"FLUX latents pack 2×2 patches: the latent size must be even, got {height}×{width} (image sides must be multiples of 16).");
    }

    private static void RequireLength(int actual, int batch, int channels, int height, int width, string name)
    {
        long expected = (long)batch * channels * height * width;
        if (actual != expected)
            throw new ArgumentException($"holds {actual} values; [{batch}, {channels}, {height}, {width}] needs {expected}.", name);
    }
}
