using BenchmarkDotNet.Attributes;
using Diffusion.Core.Models;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// VAE decode at 1024² (128² latents) on the configured model: the plain decode against
/// <see cref="TiledVaeDecoder"/> with its default 64-latent tiles and 16-latent overlap (3×3 tiles).
/// Each invocation takes seconds on a CPU, hence the short job. Peak memory is measured by the harness's
/// <c>memory</c> verb, not here (BenchmarkDotNet's allocation column sees only the managed heap).
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class VaeTilingBenchmarks
{
    private const int LatentSize = 128;
    private VaeDecoder _decoder = null!;
    private TiledVaeDecoder _tiled = null!;
    private float[] _latents = null!;
    private float[] _image = null!;

    [GlobalSetup]
    public void Setup()
    {
        _decoder = VaeDecoder.Load(Path.Combine(BenchmarkSettings.ModelDirectory, "vae_decoder", "model.onnx"), BenchmarkSettings.Session);
        _tiled = new TiledVaeDecoder(_decoder);
        _latents = new float[4 * LatentSize * LatentSize];
        _image = new float[3 * 64 * LatentSize * LatentSize];
        new Randomness.FastRandomSource(8).NextStandardNormal(_latents);
    }

    [GlobalCleanup]
    public void Cleanup() => _decoder.Dispose();

    [Benchmark(Baseline = true)]
    public void VaeDecode1024() => _decoder.Decode(_latents, 1, LatentSize, LatentSize, _image);

    [Benchmark]
    public void TiledVaeDecode1024() => _tiled.Decode(_latents, 1, LatentSize, LatentSize, _image);
}
