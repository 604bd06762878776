using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// What the shared <see cref="DenoisingLoop"/> calls each step: the model that predicts from the scaled latents (a UNet
/// with its ControlNets and added inputs, or a diffusion transformer with its text tokens, pooled projection, position ids
/// and guidance). A denoiser holds the call's conditioning for the whole model batch (the unconditional rows first with
/// classifier-free guidance) and is told which rows each model call covers, so the loop knows no model's inputs.
/// </summary>
internal interface IDenoiser
{
    /// <summary>The component named in errors ("UNet", "transformer").</summary>
    string Component { get; }

    /// <summary>The model file (or what was built from which file) named in errors.</summary>
    string ModelPath { get; }

    /// <summary>
    /// Predicts for model-batch rows <paramref name="firstRow"/> … <paramref name="firstRow"/> + <paramref name="rows"/> − 1.
    /// </summary>
    /// <param name="step">The step index counted from the loop's first step (ControlNet windows).</param>
    /// <param name="steps">Steps the loop runs.</param>
    /// <param name="sample">The model input of those rows, in the layout the loop keeps (the latents, plus any extra channels).</param>
    /// <param name="firstRow">The first model-batch row of this call.</param>
    /// <param name="rows">Rows in this call.</param>
    /// <param name="timestep">The scheduler's timestep.</param>
    /// <param name="prediction">Receives the prediction, the latents' layout, <paramref name="rows"/> items.</param>
    /// <param name="runOptions">Run options whose terminate flag cancels the run.</param>
    void Predict(int step, int steps, Memory<float> sample, int firstRow, int rows, float timestep, Memory<float> prediction, RunOptions runOptions);
}
