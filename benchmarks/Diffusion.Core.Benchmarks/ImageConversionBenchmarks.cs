using BenchmarkDotNet.Attributes;
using Diffusion.Core.Imaging;

namespace Diffusion.Core.Benchmarks;

/// <summary>Decoded tensor ([-1,1] CHW) to RGB bytes and back, at 512² and 1024².</summary>
[MemoryDiagnoser]
public class ImageConversionBenchmarks
{
    private float[] _tensor = null!;
    private ImageBuffer _image = null!;

    [Params(512, 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _tensor = new float[3 * Size * Size];
        new Randomness.FastRandomSource(4).NextStandardNormal(_tensor);
        _image = new ImageBuffer(Size, Size);
    }

    [Benchmark]
    public void TensorToImage() => ImageTensorConverter.FromTensor(_tensor, _image);

    [Benchmark]
    public void ImageToTensor() => ImageTensorConverter.ToTensor(_image, _tensor);
}
