using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The UNet denoiser of a step-cached call (<see cref="DeepCache"/>): a full step runs the whole UNet and keeps the cut
/// point's feature, per model call (the guidance halves run separately have their own); the steps between reuse it
/// through the cached graph. Both sides are ordinary <see cref="UNetDenoiser"/>s over the two graphs.
/// </summary>
internal sealed class DeepCacheDenoiser : IDenoiser
{
    private readonly DeepCache _cache;
    private readonly DeepCacheUNets _unets;
    private readonly UNetDenoiser _full;
    private readonly UNetDenoiser _cached;
    private readonly DeepCacheFeature[] _features;
    private readonly int _rowsPerCall;

    /// <param name="cache">The caching schedule.</param>
    /// <param name="unets">The cut pair.</param>
    /// <param name="full">The denoiser over <see cref="DeepCacheUNets.Full"/>.</param>
    /// <param name="cached">The denoiser over <see cref="DeepCacheUNets.Cached"/>, with the same conditioning.</param>
    /// <param name="modelBatch">Rows in the model batch.</param>
    /// <param name="rowsPerCall">Rows in each UNet call.</param>
    public DeepCacheDenoiser(DeepCache cache, DeepCacheUNets unets, UNetDenoiser full, UNetDenoiser cached, int modelBatch, int rowsPerCall)
    {
        _cache = cache;
        _unets = unets;
        _full = full;
        _cached = cached;
        _rowsPerCall = rowsPerCall;
        _features = new DeepCacheFeature[modelBatch / rowsPerCall];
        for (int i = 0; i < _features.Length; i++)
            _features[i] = new DeepCacheFeature();
    }

    public string Component => "UNet";

    public string ModelPath => _unets.Origin.ModelPath;

    /// <summary>The cut pair the denoiser runs.</summary>
    public DeepCacheUNets Unets => _unets;

    /// <summary>Loop steps whose model calls all reused the feature.</summary>
    public int CachedSteps => CachedCalls / _features.Length;

    /// <summary>Model calls that ran the cached graph.</summary>
    public int CachedCalls { get; private set; }

    /// <summary>Model calls that ran the whole UNet.</summary>
    public int FullCalls { get; private set; }

    public void Predict(int step, int steps, Memory<float> sample, int firstRow, int rows, float timestep, Memory<float> prediction, RunOptions runOptions)
    {
        DeepCacheFeature feature = _features[firstRow / _rowsPerCall];
        bool full = _cache.IsFullStep(step) || !feature.IsFilled;
        UNet unet = full ? _unets.Full : _unets.Cached;
        unet.CacheFeature = feature;
        try
        {
            (full ? _full : _cached).Predict(step, steps, sample, firstRow, rows, timestep, prediction, runOptions);
        }
        catch
        {
            feature.IsFilled = false; // a failed full run leaves no usable feature
            throw;
        }
        finally
        {
            unet.CacheFeature = null;
        }
        if (full)
            FullCalls++;
        else
            CachedCalls++;
    }
}
