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

    /// <summary>
    /// Chosen at load from the models' sizes and the memory available (the control group's limit included) or
    /// <see cref="PipelineSettings.MemoryBudget"/>: <see cref="KeepLoaded"/> when everything fits with a margin, else
    /// <see cref="Sequential"/>. The pipeline's <c>MemoryPlan</c> and the log say which and why. At each call, a VAE decode
    /// that would not fit in the memory available then runs in tiles (<see cref="GenerationResult.VaeDecodeTiled"/>).
    /// </summary>
    Auto,
}
