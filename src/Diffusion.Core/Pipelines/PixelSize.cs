namespace Diffusion.Core.Pipelines;

/// <summary>A size in pixels, for SDXL's size conditioning (<see cref="GenerationOptions.OriginalSize"/>, <see cref="GenerationOptions.TargetSize"/>).</summary>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
public readonly record struct PixelSize(int Width, int Height);
