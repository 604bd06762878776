using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The flow-matching families' denoiser: the transformer called with the rows' text tokens and pooled projection, the
/// position ids (FLUX.1), the embedded guidance (FLUX.1-dev) and the timestep the family's pipeline passes (FLUX.1:
/// t / 1000; SD3: t). The latents stay in the layout the scheduler steps: SD3's [batch, C, h, w], FLUX.1's packed
/// [batch, tokens, C·4], as diffusers' pipelines keep them.
/// </summary>
internal sealed class TransformerDenoiser : IDenoiser
{
    private readonly DiffusionTransformer _transformer;
    private readonly TransformerPromptConditioning _conditioning;
    private readonly long[] _itemShape;
    private readonly float _timestepDivisor;
    private readonly float[] _imageIds;
    private readonly float[] _textIds;
    private readonly float? _guidance;

    /// <param name="transformer">The transformer.</param>
    /// <param name="conditioning">The call's text tokens and pooled projections for the whole model batch.</param>
    /// <param name="latentChannels">The VAE's latent channels.</param>
    /// <param name="latentHeight">Latent height.</param>
    /// <param name="latentWidth">Latent width.</param>
    /// <param name="guidance">FLUX.1-dev's embedded guidance scale, or null.</param>
    public TransformerDenoiser(DiffusionTransformer transformer, TransformerPromptConditioning conditioning, int latentChannels,
        int latentHeight, int latentWidth, float? guidance)
    {
        _transformer = transformer;
        _conditioning = conditioning;
        bool packed = transformer.TakesPackedLatents;
        _itemShape = packed
            ? [0, FluxLatents.ImageSequenceLength(latentHeight, latentWidth), latentChannels * 4]
            : [0, latentChannels, latentHeight, latentWidth];
        // FluxPipeline passes timestep / 1000 (the transformer multiplies by 1000 again); the division is float32, as torch's.
        _timestepDivisor = packed ? 1000f : 1f;
        _imageIds = transformer.TakesPositionIds ? FluxLatents.ImageIds(latentHeight, latentWidth) : [];
        _textIds = transformer.TakesPositionIds ? FluxLatents.TextIds(conditioning.TextTokens) : [];
        _guidance = guidance;
    }

    public string Component => "transformer";

    public string ModelPath => _transformer.ModelPath;

    public void Predict(int step, int steps, Memory<float> sample, int firstRow, int rows, float timestep, Memory<float> prediction, RunOptions runOptions)
    {
        Span<long> shape = stackalloc long[_itemShape.Length];
        _itemShape.CopyTo(shape);
        shape[0] = rows;
        int textPerRow = _conditioning.TextTokens * _conditioning.TextWidth;
        var conditioning = new TransformerConditioning(
            _conditioning.Text.AsMemory(firstRow * textPerRow, rows * textPerRow), _conditioning.TextTokens,
            _conditioning.Pooled.AsMemory(firstRow * _conditioning.PooledWidth, rows * _conditioning.PooledWidth),
            _imageIds, _textIds, _guidance);
        _transformer.Predict(sample, shape, timestep / _timestepDivisor, conditioning, prediction, runOptions);
    }
}
