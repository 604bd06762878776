using Diffusion.Core.Execution;
using Microsoft.Extensions.Logging;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// How a pipeline runs its models: the per-session option bag. <see cref="Session"/> applies to every
/// component unless a per-component override is set, so a user can, for example, run the UNet on CUDA
/// and the VAE on the CPU.
/// </summary>
public sealed record PipelineSettings
{
    /// <summary>Session settings (execution provider, threads, optimisation level) for every component.</summary>
    public SessionSettings Session { get; init; } = new();

    /// <summary>Override of <see cref="Session"/> for the text encoder.</summary>
    public SessionSettings? TextEncoderSession { get; init; }

    /// <summary>Override of <see cref="Session"/> for the UNet.</summary>
    public SessionSettings? UNetSession { get; init; }

    /// <summary>Override of <see cref="Session"/> for the VAE decoder.</summary>
    public SessionSettings? VaeDecoderSession { get; init; }

    /// <summary>Override of <see cref="Session"/> for the VAE encoder.</summary>
    public SessionSettings? VaeEncoderSession { get; init; }

    /// <summary>How the two passes of classifier-free guidance are run.</summary>
    public ClassifierFreeGuidanceMode GuidanceMode { get; init; } = ClassifierFreeGuidanceMode.Auto;

    /// <summary>Receives load and per-generation timing messages; null logs nothing.</summary>
    public ILogger? Logger { get; init; }

    internal SessionSettings TextEncoderSettings => TextEncoderSession ?? Session;

    internal SessionSettings UNetSettings => UNetSession ?? Session;

    internal SessionSettings VaeDecoderSettings => VaeDecoderSession ?? Session;

    internal SessionSettings VaeEncoderSettings => VaeEncoderSession ?? Session;
}
