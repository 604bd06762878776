using Diffusion.Core.Execution;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// What a pipeline's models need in each <see cref="MemoryMode"/>, computed from their sizes before any is loaded, and the
/// mode chosen: the one asked for, or for <see cref="MemoryMode.Auto"/> <see cref="MemoryMode.KeepLoaded"/> when everything
/// fits in the memory available (or <see cref="PipelineSettings.MemoryBudget"/>) with a margin, else
/// <see cref="MemoryMode.Sequential"/>. <see cref="Explanation"/> says why, in the log's words.
/// </summary>
/// <remarks>
/// Working memory is estimated as <see cref="WorkingFraction"/> of a stage's weights: measured on the real-size SD 1.5
/// UNet at 512², batch 2 (3.4 GB of float32 weights, ~1.5 GB more at its step's peak; docs/performance.md). It grows
/// with the image: a plan is a load-time estimate for the model's usual sizes, not a bound for every call.
/// </remarks>
public sealed class MemoryPlan
{
    /// <summary>Working memory per stage as a fraction of its weights (see remarks).</summary>
    public const double WorkingFraction = 0.5;

    /// <summary>Auto keeps the models loaded only when their peak takes at most this share of the memory available.</summary>
    public const double AutoHeadroom = 0.85;

    /// <summary>
    /// What a whole VAE decode takes per output pixel of each image, beyond the decoder's weights: measured on the SD VAE
    /// decoder (128–512 channels, as SDXL's and the 16-channel one) at 1024², 1,091 MiB (docs/performance.md, section 2).
    /// </summary>
    public const long VaeDecodeBytesPerPixel = 1024;

    private long? _budget;

    private MemoryPlan(IReadOnlyList<MemoryPlanStage> stages, MemoryMode requested, MemoryMode chosen, long? availableBytes, string availableSource,
        string explanation)
    {
        Stages = stages;
        Requested = requested;
        Chosen = chosen;
        AvailableBytes = availableBytes;
        AvailableSource = availableSource;
        Explanation = explanation;
    }

    /// <summary>The models, in the order a generation runs them.</summary>
    public IReadOnlyList<MemoryPlanStage> Stages { get; }

    /// <summary>The mode the settings asked for.</summary>
    public MemoryMode Requested { get; }

    /// <summary>The mode the pipeline runs in (never <see cref="MemoryMode.Auto"/>).</summary>
    public MemoryMode Chosen { get; }

    /// <summary>The memory planned against: the budget, or what was available at load; null when unknown.</summary>
    public long? AvailableBytes { get; }

    /// <summary>Where <see cref="AvailableBytes"/> came from.</summary>
    public string AvailableSource { get; }

    /// <summary>Every model loaded: all weights, plus the largest stage's working memory.</summary>
    public long KeepLoadedPeakBytes => Stages.Sum(s => s.WeightBytes) + (Stages.Count == 0 ? 0 : Stages.Max(s => s.WorkingBytes));

    /// <summary>One model at a time: the largest stage alone.</summary>
    public long SequentialPeakBytes => Stages.Count == 0 ? 0 : Stages.Max(s => s.PeakBytes);

    /// <summary>The choice and its reasons, for the log.</summary>
    public string Explanation { get; }

    /// <summary>Plans <paramref name="components"/> (name and weight bytes, null when unknown) for <paramref name="requested"/>.</summary>
    /// <param name="components">The models in run order.</param>
    /// <param name="requested">The mode asked for.</param>
    /// <param name="budget">A budget in bytes that replaces the memory available; null reads it (only for Auto).</param>
    /// <param name="readAvailable">Reads the memory available (tests give their own).</param>
    internal static MemoryPlan Create(IReadOnlyList<(string Name, long? WeightBytes)> components, MemoryMode requested, long? budget,
        Func<AvailableMemory> readAvailable)
    {
        var stages = new List<MemoryPlanStage>(components.Count);
        foreach ((string name, long? weights) in components)
        {
            long bytes = weights ?? 0;
            stages.Add(new MemoryPlanStage(name, bytes, (long)(bytes * WorkingFraction)));
        }
        if (requested != MemoryMode.Auto)
            return new MemoryPlan(stages, requested, requested, null, "not read (mode given)", $"{requested} as set.");

        AvailableMemory available = budget is long b ? new AvailableMemory(b, "PipelineSettings.MemoryBudget") : readAvailable();
        var plan = new MemoryPlan(stages, requested, MemoryMode.KeepLoaded, available.Bytes, available.Source, string.Empty);
        long keep = plan.KeepLoadedPeakBytes, sequential = plan.SequentialPeakBytes;
        long usable = (long)(available.Bytes * AutoHeadroom);
        MemoryPlanStage largest = stages.Count == 0 ? new MemoryPlanStage("(none)", 0, 0) : stages.MaxBy(s => s.PeakBytes)!;
        MemoryMode chosen = keep <= usable ? MemoryMode.KeepLoaded : MemoryMode.Sequential;
        string unknown = components.Any(c => c.WeightBytes is null) ? " (some sizes unknown, counted as 0)" : string.Empty;
        string why = chosen == MemoryMode.KeepLoaded
            ? $"all models loaded need ~{AvailableMemory.Gib(keep)}, within {AutoHeadroom:P0} of {AvailableMemory.Gib(available.Bytes)} available"
            : $"all models loaded would need ~{AvailableMemory.Gib(keep)}, more than {AutoHeadroom:P0} of {AvailableMemory.Gib(available.Bytes)} available; " +
              $"one at a time the largest, {largest.Name}, needs ~{AvailableMemory.Gib(sequential)}" +
              (sequential > available.Bytes ? " — more than is available: expect swapping or an out-of-memory failure (quantisation or a smaller model would fit)" : string.Empty);
        return new MemoryPlan(stages, requested, chosen, available.Bytes, available.Source,
            $"Auto chose {chosen}: {why}{unknown} ({available.Source}).")
        {
            _budget = budget,
        };
    }

    /// <summary>
    /// For <see cref="MemoryMode.Auto"/>: whether a whole decode of <paramref name="batch"/> images of
    /// <paramref name="width"/> × <paramref name="height"/> (<see cref="VaeDecodeBytesPerPixel"/> each) exceeds what is
    /// usable now — <see cref="AutoHeadroom"/> of the memory available read at this moment (the loaded models are already
    /// out of it), or of the budget less the weights held at decode time — so it is decoded in tiles instead.
    /// </summary>
    /// <param name="batch">Images decoded together.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="readAvailable">Reads the memory available (tests give their own).</param>
    /// <param name="reason">Why, for the log (empty when the decode is not tiled).</param>
    internal bool TilesVaeDecode(int batch, int width, int height, Func<AvailableMemory> readAvailable, out string reason)
    {
        reason = string.Empty;
        if (Requested != MemoryMode.Auto)
            return false;
        long whole = VaeDecodeBytesPerPixel * batch * width * height;
        long usable;
        string source;
        if (_budget is long budget)
        {
            long held = Chosen == MemoryMode.KeepLoaded
                ? Stages.Sum(s => s.WeightBytes)
                : Stages.FirstOrDefault(s => s.Name == "vae_decoder")?.WeightBytes ?? 0;
            usable = (long)(budget * AutoHeadroom) - held;
            source = $"{AutoHeadroom:P0} of PipelineSettings.MemoryBudget {AvailableMemory.Gib(budget)} less {AvailableMemory.Gib(held)} of weights held";
        }
        else
        {
            AvailableMemory now = readAvailable();
            usable = (long)(now.Bytes * AutoHeadroom);
            source = $"{AutoHeadroom:P0} of {AvailableMemory.Gib(now.Bytes)} available now ({now.Source})";
        }
        bool tiles = whole > usable;
        reason = tiles
            ? $"decoding {batch} × {width}×{height} in tiles: a whole decode needs ~{AvailableMemory.Gib(whole)}, more than {source}."
            : string.Empty;
        return tiles;
    }

    /// <inheritdoc/>
    public override string ToString() => Explanation;
}
