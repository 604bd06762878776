using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// A term the <see cref="DenoisingLoop"/> adds to the guided prediction after classifier-free guidance (SD3's skip-layer
/// guidance): computed from the conditional rows before the two halves are combined.
/// </summary>
internal interface IGuidanceTerm
{
    /// <summary>Whether step <paramref name="step"/> (counted from the loop's first) of <paramref name="steps"/> takes the term.</summary>
    bool Applies(int step, int steps);

    /// <summary>Writes the term for the conditional rows into <paramref name="term"/> (the latents' layout, one entry per latent value).</summary>
    /// <param name="step">The step counted from the loop's first.</param>
    /// <param name="steps">Steps the loop runs.</param>
    /// <param name="timestep">The scheduler's timestep.</param>
    /// <param name="conditionalInput">The model input of the conditional rows.</param>
    /// <param name="conditionalPrediction">The model's prediction for those rows.</param>
    /// <param name="term">Receives the term.</param>
    /// <param name="runOptions">Run options whose terminate flag cancels a model run.</param>
    void Compute(int step, int steps, float timestep, Memory<float> conditionalInput, ReadOnlySpan<float> conditionalPrediction, Span<float> term, RunOptions runOptions);
}
