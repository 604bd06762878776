using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;

namespace Diffusion.Core.Benchmarks;

/// <summary>Classifier-free guidance combine, in place: <c>uncond + g·(cond − uncond)</c>, as the denoising loop does it.</summary>
[MemoryDiagnoser]
public class GuidanceBenchmarks
{
    private float[] _prediction = null!;

    [Params(64, 128)]
    public int LatentSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _prediction = new float[2 * 4 * LatentSize * LatentSize];
        new Randomness.FastRandomSource(3).NextStandardNormal(_prediction);
    }

    [Benchmark]
    public void Combine()
    {
        int half = _prediction.Length / 2;
        Span<float> unconditional = _prediction.AsSpan(0, half);
        Span<float> conditional = _prediction.AsSpan(half, half);
        TensorPrimitives.Subtract(conditional, unconditional, conditional);
        TensorPrimitives.MultiplyAdd(conditional, 7.5f, unconditional, unconditional);
    }
}
