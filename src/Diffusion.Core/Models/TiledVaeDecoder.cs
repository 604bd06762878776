using System.Numerics.Tensors;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// Decodes large latents through a <see cref="VaeDecoder"/> in overlapping square tiles, so the decoder's
/// activations (which grow with the image area) only ever cover one tile. Overlapping tiles are blended
/// with a raised-cosine feather so no seam shows.
/// </summary>
/// <remarks>
/// <para>Tiles are <see cref="TileSize"/> latents wide (clamped to the latent size), placed every
/// <c>TileSize − Overlap</c> latents from the top-left; the last tile of a row or column is moved back so
/// it ends on the image edge. Each decoded tile is weighted, per pixel, by <c>w(y)·w(x)</c>: 1 inside the
/// tile and on the image border, and over the <c>8·Overlap</c> pixels next to a side that meets another
/// tile a ramp <c>w = sin²(π/2 · (p + ½) / (8·Overlap))</c> (p = pixels from that side). Two tiles
/// overlapping by exactly <see cref="Overlap"/> thus get weights <c>sin²</c> and <c>cos²</c>, which sum
/// to 1; the accumulated image is divided by the accumulated weights, which also covers the wider overlap
/// of a moved-back last tile.</para>
/// <para>The result is not bit-identical to a full decode unless one tile covers the image: the decoder
/// sees zero padding at tile edges instead of the neighbouring latents. For decoders with a small
/// receptive field (TAESD) the difference is tiny; for SD's AutoencoderKL, whose mid-block attends over
/// the whole latent, tiles change the result somewhat more (diffusers' <c>enable_vae_tiling</c> has the
/// same trade-off).</para>
/// <para>The wrapper does not own the decoder. One <see cref="Decode"/> at a time per instance.</para>
/// </remarks>
public sealed class TiledVaeDecoder
{
    /// <summary>Default tile side in latents (512 image pixels).</summary>
    public const int DefaultTileSize = 64;

    /// <summary>Default overlap between neighbouring tiles in latents (128 image pixels).</summary>
    public const int DefaultOverlap = 16;

    /// <summary>Wraps <paramref name="decoder"/>.</summary>
    /// <param name="decoder">The decoder that runs each tile; not disposed by this wrapper.</param>
    /// <param name="tileSize">Tile side in latents (image pixels / 8); at least 1.</param>
    /// <param name="overlap">Overlap between neighbouring tiles in latents; 0 ≤ overlap &lt; <paramref name="tileSize"/>.</param>
    /// <exception cref="InvalidOptionException"><paramref name="tileSize"/> or <paramref name="overlap"/> is out of range.</exception>
    public TiledVaeDecoder(VaeDecoder decoder, int tileSize = DefaultTileSize, int overlap = DefaultOverlap)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        if (tileSize < 1)
            throw new InvalidOptionException(nameof(tileSize), $"must be at least 1 latent, got {tileSize}.");
        if (overlap < 0 || overlap >= tileSize)
            throw new InvalidOptionException(nameof(overlap), $"must be between 0 and tileSize − 1 = {tileSize - 1} latents, got {overlap}.");
        Decoder = decoder;
        TileSize = tileSize;
        Overlap = overlap;
    }

    /// <summary>The decoder that runs each tile.</summary>
    public VaeDecoder Decoder { get; }

    /// <summary>Tile side in latents.</summary>
    public int TileSize { get; }

    /// <summary>Overlap between neighbouring tiles in latents.</summary>
    public int Overlap { get; }

    /// <summary>Decodes latents into an image tile by tile; same contract as <see cref="VaeDecoder.Decode"/>.</summary>
    /// <param name="latents">Unscaled latents, float32 <c>[batch, LatentChannels, height, width]</c>.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="height">Latent height.</param>
    /// <param name="width">Latent width.</param>
    /// <param name="image">Receives the image, float32 <c>[batch, ImageChannels, 8·height, 8·width]</c>, values about [-1, 1].</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ArgumentException">A buffer length does not match the shapes, or the buffers overlap.</exception>
    /// <exception cref="OperationCanceledException">A run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during a run.</exception>
    public void Decode(Memory<float> latents, int batch, int height, int width, Memory<float> image, RunOptions? runOptions = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        int tileHeight = Math.Min(TileSize, height), tileWidth = Math.Min(TileSize, width);
        if (tileHeight == height && tileWidth == width)
        {
            // One tile covers everything: the plain decode, bit for bit.
            Decoder.Decode(latents, batch, height, width, image, runOptions);
            return;
        }

        const int f = VaeDecoder.UpscaleFactor;
        int latentChannels = Decoder.LatentChannels, imageChannels = Decoder.ImageChannels;
        Span<long> latentShape = [batch, latentChannels, height, width];
        TensorShape.RequireLength(latents.Length, latentShape, Decoder.LatentInput.Name, nameof(latents));
        Span<long> imageShape = [batch, imageChannels, (long)height * f, (long)width * f];
        TensorShape.RequireLength(image.Length, imageShape, Decoder.ImageOutput.Name, nameof(image));
        if (latents.Span.Overlaps(image.Span))
            throw new ArgumentException("The latents and image buffers overlap.", nameof(image));

        int imageHeight = height * f, imageWidth = width * f;
        int tilePixelHeight = tileHeight * f, tilePixelWidth = tileWidth * f;
        float[] tileLatents = new float[batch * latentChannels * tileHeight * tileWidth];
        float[] tileImage = new float[batch * imageChannels * tilePixelHeight * tilePixelWidth];
        float[] weightSum = new float[imageHeight * imageWidth];
        float[] rowWeights = new float[tilePixelHeight];
        float[] columnWeights = new float[tilePixelWidth];
        float[] pixelWeights = new float[tilePixelWidth];
        Span<float> output = image.Span;
        output.Clear();

        int rowCount = TileCount(height, tileHeight), columnCount = TileCount(width, tileWidth);
        for (int row = 0; row < rowCount; row++)
        {
            int top = TileStart(row, rowCount, height, tileHeight);
            Feather(rowWeights, top > 0, top + tileHeight < height, Overlap * f);
            for (int column = 0; column < columnCount; column++)
            {
                int left = TileStart(column, columnCount, width, tileWidth);
                Feather(columnWeights, left > 0, left + tileWidth < width, Overlap * f);

                CopyLatentTile(latents.Span, batch * latentChannels, height, width, top, left, tileHeight, tileWidth, tileLatents);
                Decoder.Decode(tileLatents, batch, tileHeight, tileWidth, tileImage, runOptions);
                Accumulate(tileImage, batch * imageChannels, tilePixelHeight, tilePixelWidth, rowWeights, columnWeights, pixelWeights,
                    output, weightSum, imageHeight, imageWidth, top * f, left * f);
            }
        }

        // Normalise: every pixel is covered by at least one tile with a positive weight.
        int plane = imageHeight * imageWidth;
        for (int p = 0; p < batch * imageChannels; p++)
            TensorPrimitives.Divide(output.Slice(p * plane, plane), weightSum, output.Slice(p * plane, plane));
    }

    /// <summary>Tiles needed along an axis of <paramref name="size"/> latents with the configured stride.</summary>
    private int TileCount(int size, int tile)
    {
        if (tile >= size)
            return 1;
        int stride = tile - Overlap;
        return 1 + (size - tile + stride - 1) / stride;
    }

    /// <summary>Start of tile <paramref name="index"/>; the last one ends on the edge.</summary>
    private int TileStart(int index, int count, int size, int tile) =>
        index == count - 1 ? size - tile : index * (tile - Overlap);

    /// <summary>Raised-cosine ramps over <paramref name="ramp"/> pixels on the sides that meet another tile; 1 elsewhere.</summary>
    private static void Feather(Span<float> weights, bool rampStart, bool rampEnd, int ramp)
    {
        weights.Fill(1f);
        int length = Math.Min(ramp, weights.Length);
        for (int p = 0; p < length; p++)
        {
            double s = Math.Sin(Math.PI / 2 * (p + 0.5) / ramp);
            float w = (float)(s * s);
            if (rampStart)
                weights[p] *= w;
            if (rampEnd)
                weights[weights.Length - 1 - p] *= w;
        }
    }

    private static void CopyLatentTile(ReadOnlySpan<float> latents, int planes, int height, int width,
        int top, int left, int tileHeight, int tileWidth, Span<float> tile)
    {
        for (int p = 0; p < planes; p++)
        {
            for (int y = 0; y < tileHeight; y++)
            {
                latents.Slice(p * height * width + (top + y) * width + left, tileWidth)
                    .CopyTo(tile.Slice((p * tileHeight + y) * tileWidth, tileWidth));
            }
        }
    }

    private static void Accumulate(ReadOnlySpan<float> tile, int planes, int tileHeight, int tileWidth,
        ReadOnlySpan<float> rowWeights, ReadOnlySpan<float> columnWeights, Span<float> pixelWeights, Span<float> output, Span<float> weightSum,
        int imageHeight, int imageWidth, int top, int left)
    {
        for (int y = 0; y < tileHeight; y++)
        {
            // The pixel weights of this tile row: w(y)·w(x).
            TensorPrimitives.Multiply(columnWeights, rowWeights[y], pixelWeights);
            Span<float> weightRow = weightSum.Slice((top + y) * imageWidth + left, tileWidth);
            TensorPrimitives.Add(weightRow, pixelWeights, weightRow);
            for (int p = 0; p < planes; p++)
            {
                ReadOnlySpan<float> source = tile.Slice((p * tileHeight + y) * tileWidth, tileWidth);
                Span<float> target = output.Slice(p * imageHeight * imageWidth + (top + y) * imageWidth + left, tileWidth);
                TensorPrimitives.MultiplyAdd(source, pixelWeights, target, target);
            }
        }
    }
}
