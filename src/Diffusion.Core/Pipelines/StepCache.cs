namespace Diffusion.Core.Pipelines;

/// <summary>
/// A way of reusing the denoiser's work from one step in the next (<see cref="GenerationOptions.StepCache"/>). The one
/// built so far is <see cref="DeepCache"/>, for UNet models; block caches for the transformer families would be others.
/// </summary>
public abstract record StepCache
{
    private protected StepCache()
    {
    }

    /// <summary>The text form written to image metadata and read back by the command line.</summary>
    public abstract string ToText();

    /// <exception cref="InvalidOptionException">A setting out of range.</exception>
    internal abstract void Validate();
}
