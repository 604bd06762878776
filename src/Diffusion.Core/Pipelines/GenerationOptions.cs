using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// What to generate: the per-call option bag of a pipeline. Defaults follow diffusers'
/// <c>StableDiffusionPipeline.__call__</c> except <see cref="Steps"/> (25 rather than 50).
/// All checks live in <see cref="Validate"/>, which pipelines call before any model runs.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>The text to depict.</summary>
    public string Prompt { get; init; } = string.Empty;

    /// <summary>Text to steer away from; empty means the unconditional (empty-prompt) embedding, as diffusers does.</summary>
    public string NegativePrompt { get; init; } = string.Empty;

    /// <summary>Classifier-free guidance scale; values ≤ 1 skip the unconditional pass (diffusers' rule).</summary>
    public float GuidanceScale { get; init; } = 7.5f;

    /// <summary>Number of denoising steps (scheduler inference steps).</summary>
    public int Steps { get; init; } = 25;

    /// <summary>Image width in pixels: positive multiple of 8. Null means the model's default size.</summary>
    public int? Width { get; init; }

    /// <summary>Image height in pixels: positive multiple of 8. Null means the model's default size.</summary>
    public int? Height { get; init; }

    /// <summary>Seed of the random source. Null draws a fresh seed, reported in <see cref="GenerationResult.Seed"/>.</summary>
    public ulong? Seed { get; init; }

    /// <summary>
    /// Which generator produces the noise. <see cref="RandomSourceKind.Torch"/> (the default) reproduces
    /// diffusers' PyTorch pipelines run with <c>generator=torch.Generator("cpu").manual_seed(seed)</c>;
    /// <see cref="RandomSourceKind.Numpy"/> reproduces diffusers' ONNX pipelines (<c>np.random.RandomState(seed)</c>).
    /// </summary>
    public RandomSourceKind RandomSource { get; init; } = RandomSourceKind.Torch;

    /// <summary>Images generated for the prompt, as one batch.</summary>
    public int ImagesPerPrompt { get; init; } = 1;

    /// <summary>A scheduler to use for this call instead of the pipeline's; it is reset by the call (<c>SetTimesteps</c>).</summary>
    public IScheduler? Scheduler { get; init; }

    /// <summary>
    /// ControlNets steering this call, summed (diffusers' <c>MultiControlNetModel</c>); empty for none. Split
    /// units need a UNet with residual inputs, fused units a UNet with the ControlNets inside (see <see cref="ControlNetUnit"/>).
    /// </summary>
    public IReadOnlyList<ControlNetUnit> ControlNets { get; init; } = [];

    /// <summary>Checks every option and throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Prompt is null)
            throw new InvalidOptionException(nameof(Prompt), "must not be null (use an empty string for an unconditional image).");
        if (NegativePrompt is null)
            throw new InvalidOptionException(nameof(NegativePrompt), "must not be null (use an empty string for none).");
        if (!float.IsFinite(GuidanceScale) || GuidanceScale < 0)
            throw new InvalidOptionException(nameof(GuidanceScale), $"must be a finite number ≥ 0, got {GuidanceScale}.");
        if (Steps < 1 || Steps > 1000)
            throw new InvalidOptionException(nameof(Steps), $"must be between 1 and 1000, got {Steps}.");
        ValidateSize(nameof(Width), Width);
        ValidateSize(nameof(Height), Height);
        if (ImagesPerPrompt < 1 || ImagesPerPrompt > 64)
            throw new InvalidOptionException(nameof(ImagesPerPrompt), $"must be between 1 and 64, got {ImagesPerPrompt}.");
        if (!Enum.IsDefined(RandomSource))
            throw new InvalidOptionException(nameof(RandomSource), $"unknown random source {RandomSource}.");
        if (ControlNets is null)
            throw new InvalidOptionException(nameof(ControlNets), "must not be null (use an empty list for none).");
        for (int i = 0; i < ControlNets.Count; i++)
            (ControlNets[i] ?? throw new InvalidOptionException($"{nameof(ControlNets)}[{i}]", "must not be null.")).Validate(i);
    }

    private static void ValidateSize(string name, int? value)
    {
        if (value is null)
            return;
        if (value <= 0 || value % 8 != 0)
            throw new InvalidOptionException(name, $"must be a positive multiple of 8 (the VAE downsamples by 8), got {value}.");
        if (value > 8192)
            throw new InvalidOptionException(name, $"must be at most 8192 pixels, got {value}.");
    }
}
