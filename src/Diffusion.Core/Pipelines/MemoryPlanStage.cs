namespace Diffusion.Core.Pipelines;

/// <summary>One model of a pipeline in its <see cref="MemoryPlan"/>.</summary>
/// <param name="Name">The component (<c>text_encoder</c>, <c>unet</c>, <c>transformer</c>, <c>vae_decoder</c>…).</param>
/// <param name="WeightBytes">What its session holds for weights: float32 for graphs built from checkpoints (half-precision
/// files are widened on a CPU), the files' size for ONNX files.</param>
/// <param name="WorkingBytes">Estimated memory its runs take beyond the weights (activations and ONNX Runtime's buffers).</param>
public sealed record MemoryPlanStage(string Name, long WeightBytes, long WorkingBytes)
{
    /// <summary>This stage run alone: weights and working memory.</summary>
    public long PeakBytes => WeightBytes + WorkingBytes;
}
