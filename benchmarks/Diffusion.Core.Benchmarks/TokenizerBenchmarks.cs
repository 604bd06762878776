using BenchmarkDotNet.Attributes;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Benchmarks;

/// <summary>CLIP tokenization of a typical prompt into a caller buffer (the pipeline's path), and tokenizer loading.</summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private const string Prompt = "a majestic lighthouse on a rocky cliff at dusk, dramatic clouds, oil painting, highly detailed, trending on artstation";
    private ClipTokenizer _tokenizer = null!;
    private readonly int[] _ids = new int[77];
    private string _tokenizerDirectory = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tokenizerDirectory = Path.Combine(BenchmarkSettings.ModelDirectory, "tokenizer");
        _tokenizer = ClipTokenizer.FromDirectory(_tokenizerDirectory);
        _tokenizer.Encode(Prompt, _ids, out _);
    }

    [Benchmark]
    public int Encode() => _tokenizer.Encode(Prompt, _ids, out _);

    [Benchmark]
    public ClipTokenizer Load() => ClipTokenizer.FromDirectory(_tokenizerDirectory);
}
