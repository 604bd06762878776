namespace Diffusion.Core.Pipelines;

/// <summary>
/// Latents as the denoiser sees them (already multiplied by the VAE scaling factor), NCHW float32: what a call with
/// <see cref="GenerationOptions.DenoisingEnd"/> hands to another with <see cref="GenerationOptions.InitLatents"/> (SDXL's
/// base → refiner hand-off, diffusers' <c>output_type="latent"</c>).
/// </summary>
/// <param name="Values">The values, <c>[Batch, Channels, Height, Width]</c> row-major; kept, not copied.</param>
/// <param name="Batch">Images.</param>
/// <param name="Channels">Latent channels (4 for Stable Diffusion 1.x/2.x and XL).</param>
/// <param name="Height">Latent height (pixels / 8).</param>
/// <param name="Width">Latent width (pixels / 8).</param>
public sealed record LatentImage(float[] Values, int Batch, int Channels, int Height, int Width)
{
    /// <summary>Checks the shape against the values; throws <see cref="InvalidOptionException"/> naming <paramref name="option"/>.</summary>
    internal void Validate(string option)
    {
        if (Values is null)
            throw new InvalidOptionException(option, "has no values.");
        if (Batch < 1 || Channels < 1 || Height < 1 || Width < 1 || Height > 1024 || Width > 1024 || Batch > 64 || Channels > 64)
            throw new InvalidOptionException(option, $"has the shape [{Batch},{Channels},{Height},{Width}]; each axis must be positive (batch ≤ 64, channels ≤ 64, height and width ≤ 1024).");
        if ((long)Batch * Channels * Height * Width != Values.Length)
            throw new InvalidOptionException(option, $"has {Values.Length} values, not {Batch}×{Channels}×{Height}×{Width}.");
        foreach (float value in Values)
        {
            if (!float.IsFinite(value))
                throw new InvalidOptionException(option, "holds NaN or infinite values.");
        }
    }
}
