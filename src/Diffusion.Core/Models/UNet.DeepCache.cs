using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Models;

/// <summary>
/// The step-caching side of the UNet (see <see cref="DeepCacheGraphs"/>): the full graph of a caching pair also writes the
/// feature at its cut point into <see cref="CacheFeature"/>; the cached graph reads it from there in place of the layers it skips.
/// </summary>
public sealed partial class UNet
{
    private TensorSpec? _cacheFeatureInput;
    private TensorSpec? _cacheFeatureOutput;
    private BoundFloatTensor? _cacheFeature;

    /// <summary>The feature buffer the next run writes (full graph) or reads (cached graph); set by the caching denoiser.</summary>
    internal DeepCacheFeature? CacheFeature { get; set; }

    /// <summary>True for the cached graph of a caching pair (it takes the feature instead of computing the deep layers).</summary>
    internal bool ReadsCacheFeature => _cacheFeatureInput is not null;

    private void InitializeCacheFeature()
    {
        _cacheFeatureInput = TryFindInput(DeepCacheGraphs.FeatureName);
        _cacheFeatureOutput = TryFindOutput(DeepCacheGraphs.FeatureName);
        if (_cacheFeatureInput is TensorSpec spec)
            _cacheFeature = new BoundFloatTensor(spec, isOutput: false);
        else if (_cacheFeatureOutput is TensorSpec output)
            _cacheFeature = new BoundFloatTensor(output, isOutput: true);
    }

    private string[] WithCacheFeatureInputName(string[] names)
        => _cacheFeatureInput is null ? names : [.. names, _cacheFeatureInput.Name];

    /// <summary>Binds the feature before a run: the cached graph's input, or the full graph's output when its size is known.</summary>
    private void BindCacheFeature(OrtIoBinding binding, int batch, int height, int width)
    {
        if (_cacheFeature is null)
            return;
        DeepCacheFeature feature = CacheFeature
            ?? throw new InvalidOperationException($"{ModelPath}: a step-caching UNet runs only with its feature buffer set.");
        if (_cacheFeatureInput is not null)
        {
            if (!feature.IsFilled || !feature.Fits(batch, height, width))
                throw new InvalidOperationException($"{ModelPath}: the cached step needs a feature from a full step at the same shape.");
            _cacheFeature.Bind(binding, feature.Values, feature.Shape);
        }
        else if (feature.Fits(batch, height, width))
        {
            _cacheFeature.Bind(binding, feature.Values, feature.Shape);
        }
        else
        {
            // First full run at this shape: ONNX Runtime allocates the output, its shape sizes the buffer (see CompleteCacheFeature).
            _cacheFeature.Dispose();
            binding.BindOutputToDevice(_cacheFeatureOutput!.Name, OrtMemoryInfo.DefaultInstance);
        }
    }

    /// <summary>After a full run: the feature is in the caller's buffer (copied from ONNX Runtime's on the first run at a shape).</summary>
    private void CompleteCacheFeature(OrtIoBinding binding, int batch, int height, int width)
    {
        if (_cacheFeatureOutput is null || _cacheFeature is null)
            return;
        DeepCacheFeature feature = CacheFeature!;
        if (feature.Fits(batch, height, width))
        {
            _cacheFeature.CompleteOutput();
        }
        else
        {
            string[] names = binding.GetOutputNames();
            using IDisposableReadOnlyCollection<OrtValue> values = binding.GetOutputValues();
            OrtValue value = values[Array.IndexOf(names, _cacheFeatureOutput.Name)];
            OrtTensorTypeAndShapeInfo info = value.GetTensorTypeAndShape();
            Span<float> target = feature.Resize(batch, height, width, info.Shape);
            if (info.ElementDataType == TensorElementType.Float16)
                Float16Conversion.ToSingle(value.GetTensorDataAsSpan<Float16>(), target);
            else
                value.GetTensorDataAsSpan<float>().CopyTo(target);
        }
        feature.IsFilled = true;
    }
}
