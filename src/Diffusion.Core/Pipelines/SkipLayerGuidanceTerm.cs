using System.Numerics.Tensors;
using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// <see cref="SkipLayerGuidance"/> as the loop's extra term: the transformer run on the conditional rows with the layers
/// skipped, then <c>(conditional − skipped) · scale</c> (diffusers' <c>noise_pred + (noise_pred_text −
/// noise_pred_skip_layers) · skip_layer_guidance_scale</c>, in that order of operations).
/// </summary>
internal sealed class SkipLayerGuidanceTerm(SkipLayerGuidance settings, IDenoiser denoiser, DiffusionTransformer transformer, int batch, int perImage)
    : IGuidanceTerm
{
    private readonly int[] _layers = [.. settings.Layers];
    private readonly float[] _skipped = new float[batch * perImage];

    public bool Applies(int step, int steps) => settings.Applies(step, steps);

    public void Compute(int step, int steps, float timestep, Memory<float> conditionalInput, ReadOnlySpan<float> conditionalPrediction, Span<float> term,
        RunOptions runOptions)
    {
        transformer.SetSkippedLayers(_layers);
        try
        {
            // The conditional rows come after the unconditional ones in the model batch.
            denoiser.Predict(step, steps, conditionalInput, batch, batch, timestep, _skipped, runOptions);
        }
        finally
        {
            transformer.SetSkippedLayers([]);
        }
        TensorPrimitives.Subtract(conditionalPrediction, _skipped, term);
        TensorPrimitives.Multiply(term, settings.Scale, term);
    }
}
