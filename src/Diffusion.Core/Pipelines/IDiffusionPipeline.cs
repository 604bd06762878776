namespace Diffusion.Core.Pipelines;

/// <summary>
/// A loaded diffusion model that turns a <see cref="GenerationOptions"/> into images. Implementations
/// own their ONNX Runtime sessions (dispose the pipeline to release them) and are not thread-safe:
/// run one generation at a time per instance.
/// </summary>
public interface IDiffusionPipeline : IDisposable
{
    /// <summary>The model family the pipeline was loaded as (its defaults: guidance, size, strength).</summary>
    Families.ModelFamily Family { get; }

    /// <summary>The scheduler used when <see cref="GenerationOptions.Scheduler"/> is null (the model's own, from its config).</summary>
    Schedulers.IScheduler Scheduler { get; }

    /// <summary>What the models need in each memory mode and the mode the pipeline runs in; null when it was not planned
    /// (a pipeline assembled from models already loaded).</summary>
    MemoryPlan? MemoryPlan => null;

    /// <summary>
    /// Runs one generation. Options are validated before any model runs; <paramref name="progress"/>
    /// is told after each denoising step; cancelling <paramref name="cancellationToken"/> stops the
    /// model that is running (through ONNX Runtime's terminate flag) and throws
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <exception cref="InvalidOptionException">An option is out of range (the message names it).</exception>
    GenerationResult Generate(
        GenerationOptions options,
        IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default);
}
