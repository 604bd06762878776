namespace Diffusion.Core.Pipelines;

/// <summary>Reported after each denoising step of a generation.</summary>
/// <param name="Step">Steps done so far (1-based).</param>
/// <param name="TotalSteps">Steps this generation runs.</param>
/// <param name="Timestep">The model timestep of the step just done.</param>
/// <param name="Elapsed">Time since the generation started.</param>
public readonly record struct GenerationProgress(int Step, int TotalSteps, float Timestep, TimeSpan Elapsed);
