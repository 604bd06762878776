namespace Diffusion.Core;

/// <summary>
/// A model or the scheduler produced NaN or infinite values, so the image would be black or noise.
/// <see cref="Component"/> names where the values first appeared (e.g. <c>UNet</c> at <see cref="Step"/>, or
/// <c>VAE decoder</c>). The usual cause is float16 overflow, most often in the attention of a float16 UNet or
/// VAE (SD 2.x and fine-tunes are prone to it): run that component in float32 or use an export with
/// float32 attention / an fp16-fixed VAE.
/// </summary>
public sealed class NumericalInstabilityException : DiffusionException
{
    /// <summary>Creates the exception for <paramref name="component"/>.</summary>
    /// <param name="component">What produced the values: <c>UNet</c>, <c>scheduler</c>, <c>VAE encoder</c>, <c>VAE decoder</c>.</param>
    /// <param name="modelPath">The model file, when a model produced them.</param>
    /// <param name="step">The denoising step index, for the UNet and the scheduler.</param>
    /// <param name="message">What was found.</param>
    public NumericalInstabilityException(string component, string? modelPath, int? step, string message)
        : base($"{component}{(step is int s ? $" at step {s}" : string.Empty)}{(modelPath is null ? string.Empty : $" ({modelPath})")}: {message} " +
               "NaN/Inf usually come from float16 overflow (most often in attention); run this component in float32 or use an fp16-safe export.")
    {
        Component = component;
        ModelPath = modelPath;
        Step = step;
    }

    /// <summary>The component whose output first held NaN or infinity (<c>UNet</c>, <c>scheduler</c>, <c>VAE encoder</c>, <c>VAE decoder</c>).</summary>
    public string Component { get; }

    /// <summary>The model file of <see cref="Component"/>, or <see langword="null"/> for the scheduler.</summary>
    public string? ModelPath { get; }

    /// <summary>The step index (into the scheduler's timesteps) for the UNet and the scheduler, else <see langword="null"/>.</summary>
    public int? Step { get; }
}
