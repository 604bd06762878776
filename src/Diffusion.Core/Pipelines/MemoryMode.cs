namespace Diffusion.Core.Pipelines;

/// <summary>Which models a pipeline keeps in memory between and during generations.</summary>
public enum MemoryMode
{
    /// <summary>Every model's session stays loaded: fastest, peak memory is the sum of all models.</summary>
    KeepLoaded,

    /// <summary>
    /// Each model is loaded when its stage starts and released when it ends (text encoder, then UNet, then VAE
    /// decoder), so peak memory is about the largest single model's; every generation pays the session creation
    /// time of each model (see docs/performance.md).
    /// </summary>
    Sequential,
}
