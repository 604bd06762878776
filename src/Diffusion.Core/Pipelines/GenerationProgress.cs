namespace Diffusion.Core.Pipelines;

/// <summary>Reported after each denoising step of a generation.</summary>
/// <param name="Step">Steps done so far (1-based).</param>
/// <param name="TotalSteps">Steps this generation runs.</param>
/// <param name="Timestep">The model timestep of the step just done.</param>
/// <param name="Elapsed">Time since the generation started.</param>
/// <param name="Latents">
/// The latents after this step, in the layout the denoiser steps (SD/SDXL: batch × channels × height/8 × width/8; FLUX:
/// packed tokens), for previews. A view of the loop's own buffer: valid only during the report call (copy what you keep),
/// and empty where a caller reports no latents.
/// </param>
public readonly record struct GenerationProgress(int Step, int TotalSteps, float Timestep, TimeSpan Elapsed, ReadOnlyMemory<float> Latents = default);
