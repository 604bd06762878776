using Diffusion.Core.Models;

namespace Diffusion.Core.Tests.Models;

public sealed class TiledVaeDecoderTests(TiledVaeDecoderTests.AstronautDecode astronaut, ITestOutputHelper output)
    : IClassFixture<TiledVaeDecoderTests.AstronautDecode>
{
    private const int LatentSize = 64;
    private const int ImageSize = LatentSize * VaeDecoder.UpscaleFactor;

    [Fact]
    public void TiledDecodeOfTheAstronautMatchesTheFullDecode()
    {
        // reference/astronaut_lat.f32: TAESD's encoding of a real photo [1,4,64,64] (tiny-sd-variants README).
        // Tiles of 32 latents with 8 of overlap start at 0, 24 and 32 along each axis.
        VaeDecoder decoder = astronaut.Decoder;
        float[] latents = astronaut.Latents;
        float[] full = astronaut.FullDecode;
        float[] tiled = new float[full.Length];

        new TiledVaeDecoder(decoder, tileSize: 32, overlap: 8).Decode(latents, 1, LatentSize, LatentSize, tiled);

        double psnr = PeakSignalToNoiseRatio(tiled, full);
        float maxDifference = ReferenceTensors.MaxAbsDifference(tiled, full);
        output.WriteLine($"tiled (32, overlap 8) vs full decode: PSNR {psnr:F2} dB, max |diff| {maxDifference:G4}");
        Assert.True(psnr > 35, $"PSNR {psnr:F2} dB");
    }

    [Fact]
    public void FeatheredTilesLeaveNoSeamAtTheTileEdges()
    {
        // The error next to a tile edge (pixel rows/columns 192, 256 and 448 for tiles 32/overlap 8) must be
        // no worse than elsewhere; the same tiles butted together without a feather (overlap 0 → edges at 256)
        // show the seam this measure detects.
        VaeDecoder decoder = astronaut.Decoder;
        float[] latents = astronaut.Latents;
        float[] full = astronaut.FullDecode;
        float[] feathered = new float[full.Length];
        float[] butted = new float[full.Length];
        new TiledVaeDecoder(decoder, tileSize: 32, overlap: 8).Decode(latents, 1, LatentSize, LatentSize, feathered);
        new TiledVaeDecoder(decoder, tileSize: 32, overlap: 0).Decode(latents, 1, LatentSize, LatentSize, butted);

        (double featheredSeam, double featheredRest) = SeamAndRestRmsError(feathered, full, [192, 256, 448]);
        (double buttedSeam, double buttedRest) = SeamAndRestRmsError(butted, full, [256]);
        output.WriteLine($"feathered: seam RMS {featheredSeam:G4}, rest RMS {featheredRest:G4}; butted: seam RMS {buttedSeam:G4}, rest RMS {buttedRest:G4}");

        Assert.True(buttedSeam > 3 * buttedRest, "the measure must see an unfeathered seam");
        Assert.True(featheredSeam < 2 * featheredRest, $"feathered seam RMS {featheredSeam:G4} vs elsewhere {featheredRest:G4}");
        Assert.True(featheredSeam < buttedSeam / 3, $"feathered seam RMS {featheredSeam:G4} vs butted {buttedSeam:G4}");
    }

    [Theory]
    [InlineData(64, 16)]
    [InlineData(96, 8)]
    public void ATileCoveringTheImageDecodesExactlyLikeTheDecoder(int tileSize, int overlap)
    {
        VaeDecoder decoder = astronaut.Decoder;
        float[] latents = astronaut.Latents;
        float[] full = astronaut.FullDecode;
        float[] tiled = new float[full.Length];

        new TiledVaeDecoder(decoder, tileSize, overlap).Decode(latents, 1, LatentSize, LatentSize, tiled);

        Assert.Equal(full, tiled);
    }

    [Fact]
    public void ABatchOfNonSquareLatentsDecodesEachImageLikeItsOwnTiledDecode()
    {
        // Two different images in one batch, 40×64 latents: the batch must not mix its images.
        VaeDecoder decoder = astronaut.Decoder;
        float[] latents = astronaut.Latents;
        const int height = 40, width = 64, plane = height * width;
        float[] batch = new float[2 * 4 * plane];
        for (int c = 0; c < 4; c++)
        {
            latents.AsSpan(c * LatentSize * LatentSize, plane).CopyTo(batch.AsSpan(c * plane));
            latents.AsSpan(c * LatentSize * LatentSize + (LatentSize - height) * width, plane).CopyTo(batch.AsSpan((4 + c) * plane));
        }
        var tiled = new TiledVaeDecoder(decoder, tileSize: 32, overlap: 8);
        int imageLength = 3 * plane * 64;
        float[] together = new float[2 * imageLength];
        float[] second = new float[imageLength];

        tiled.Decode(batch, 2, height, width, together);
        tiled.Decode(batch.AsMemory(4 * plane), 1, height, width, second);

        Assert.True(ReferenceTensors.MaxAbsDifference(together.AsSpan(imageLength), second) < 1e-4f);
    }

    [Theory]
    [InlineData(0, 0, "tileSize")]
    [InlineData(32, 32, "overlap")]
    [InlineData(32, -1, "overlap")]
    public void BadTileSettingsAreRejectedByName(int tileSize, int overlap, string option)
    {
        var error = Assert.Throws<InvalidOptionException>(() => new TiledVaeDecoder(astronaut.Decoder, tileSize, overlap));

        Assert.Equal(option, error.OptionName);
    }

    /// <summary>
    /// tiny-sd's TAESD decoder, reference/astronaut_lat.f32 (TAESD's encoding of a real photo, [1,4,64,64];
    /// tiny-sd-variants README) and its plain full decode, shared by the tests of this class.
    /// </summary>
    public sealed class AstronautDecode : IDisposable
    {
        private VaeDecoder? _decoder;
        private float[]? _latents;
        private float[]? _fullDecode;

        /// <summary>The decoder, loaded on first use (so a missing shared folder skips only the tests that need it).</summary>
        public VaeDecoder Decoder => _decoder ??= VaeDecoder.Load(ReferenceTensors.TinySd("vae_decoder/model.onnx"));

        /// <summary>The astronaut latents.</summary>
        public float[] Latents => _latents ??= ReferenceTensors.ReadFloats("astronaut_lat.f32");

        /// <summary>The untiled decode of <see cref="Latents"/>.</summary>
        public float[] FullDecode
        {
            get
            {
                if (_fullDecode is null)
                {
                    _fullDecode = new float[3 * ImageSize * ImageSize];
                    Decoder.Decode(Latents, 1, LatentSize, LatentSize, _fullDecode);
                }
                return _fullDecode;
            }
        }

        /// <inheritdoc />
        public void Dispose() => _decoder?.Dispose();
    }

    /// <summary>PSNR for images in [-1, 1] (peak-to-peak 2).</summary>
    private static double PeakSignalToNoiseRatio(float[] actual, float[] expected)
    {
        double sum = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            sum += d * d;
        }
        return 10 * Math.Log10(4 / (sum / actual.Length));
    }

    /// <summary>RMS error within 4 pixels of the given rows or columns, and everywhere else.</summary>
    private static (double Seam, double Elsewhere) SeamAndRestRmsError(float[] actual, float[] expected, int[] edges)
    {
        double seamSum = 0, restSum = 0;
        long seamCount = 0, restCount = 0;
        for (int c = 0; c < 3; c++)
        {
            for (int y = 0; y < ImageSize; y++)
            {
                for (int x = 0; x < ImageSize; x++)
                {
                    int i = (c * ImageSize + y) * ImageSize + x;
                    double d = actual[i] - expected[i];
                    if (NearEdge(y, edges) || NearEdge(x, edges))
                    {
                        seamSum += d * d;
                        seamCount++;
                    }
                    else
                    {
                        restSum += d * d;
                        restCount++;
                    }
                }
            }
        }
        return (Math.Sqrt(seamSum / seamCount), Math.Sqrt(restSum / restCount));
    }

    private static bool NearEdge(int position, int[] edges)
    {
        foreach (int edge in edges)
        {
            if (position >= edge - 4 && position < edge + 4)
                return true;
        }
        return false;
    }
}
