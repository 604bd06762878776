using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Shared plumbing for the schedulers: the config and its <see cref="NoiseSchedule"/>, the timestep array,
/// argument checks, scratch buffers sized once per sample length, and the diffusers helpers several
/// schedulers share (predicted x0 from the model output, <c>clip_sample</c>, dynamic thresholding).
/// </summary>
/// <remarks>
/// Element-wise math follows diffusers' float32 tensor operations one by one (same operations, same order,
/// no fused multiply-add) so results match torch to a few float32 ulps.
/// </remarks>
public abstract class SchedulerBase : IScheduler
{
    private float[] _timesteps = [];
    private readonly ScratchBuffers _scratch = new();
    private float[] _thresholdSorted = [];
    private int _sampleCount = 1;

    /// <summary>Validates <paramref name="config"/> as given and builds its noise schedule.</summary>
    /// <exception cref="InvalidOptionException">A config value is out of range or unsupported.</exception>
    protected SchedulerBase(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        Schedule = new NoiseSchedule(config);
    }

    /// <summary>
    /// Completes <paramref name="config"/> with <paramref name="classDefaults"/> (the diffusers class' constructor
    /// defaults) for the fields its file did not set, as diffusers' <c>from_config</c>; then validates it and builds
    /// its noise schedule.
    /// </summary>
    /// <exception cref="InvalidOptionException">A config value is out of range or unsupported.</exception>
    protected SchedulerBase(SchedulerConfig config, SchedulerConfig classDefaults)
        : this((config ?? throw new ArgumentNullException(nameof(config))).WithDefaultsFrom(classDefaults))
    {
    }

    /// <inheritdoc />
    public SchedulerConfig Config { get; }

    /// <summary>The training noise schedule (betas, alphas_cumprod, sigmas) built from <see cref="Config"/>.</summary>
    public NoiseSchedule Schedule { get; }

    /// <inheritdoc />
    public virtual int Order => 1;

    /// <inheritdoc />
    public virtual float InitNoiseSigma => 1f;

    /// <inheritdoc />
    public ReadOnlySpan<float> Timesteps => _timesteps;

    /// <summary>The step count given to the last <see cref="SetTimesteps"/> (0 before the first call).</summary>
    public int InferenceSteps { get; private set; }

    /// <summary>
    /// How many samples (batch entries) a span passed to <see cref="Step"/> holds; dynamic thresholding computes
    /// its quantile per sample, as diffusers does over the batch dimension. Default 1.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int SampleCount
    {
        get => _sampleCount;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _sampleCount = value;
        }
    }

    /// <inheritdoc />
    public void SetTimesteps(int inferenceSteps)
    {
        if (inferenceSteps < 1 || inferenceSteps > Config.NumTrainTimesteps)
            throw new InvalidOptionException("InferenceSteps", $"must be between 1 and num_train_timesteps ({Config.NumTrainTimesteps}), got {inferenceSteps}.");
        float[] timesteps = ComputeTimesteps(inferenceSteps);
        // steps_offset can push leading-spaced timesteps past the table (diffusers then fails with an index error):
        // that is too many steps for this config, so the step count is what the error names.
        foreach (float timestep in timesteps)
        {
            if (timestep >= Config.NumTrainTimesteps)
            {
                throw new InvalidOptionException("InferenceSteps",
                    $"{inferenceSteps} steps with {Config.TimestepSpacing} spacing and steps_offset {Config.StepsOffset} reach timestep {timestep}, past the {Config.NumTrainTimesteps} training timesteps; use fewer steps.");
            }
        }
        InferenceSteps = inferenceSteps;
        _timesteps = timesteps;
    }

    /// <summary>Computes the timesteps for <paramref name="inferenceSteps"/> (already range-checked) and resets any per-run state.</summary>
    protected abstract float[] ComputeTimesteps(int inferenceSteps);

    /// <inheritdoc />
    public virtual void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        RequireSameLength(sample.Length, destination.Length, nameof(destination));
        sample.CopyTo(destination);
    }

    /// <inheritdoc />
    public abstract void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null);

    /// <inheritdoc />
    public abstract void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination);

    /// <summary>Throws unless <see cref="SetTimesteps"/> was called and <paramref name="stepIndex"/> indexes <see cref="Timesteps"/>.</summary>
    protected void ValidateStepIndex(int stepIndex) => StepArguments.RequireIndex(this, _timesteps.Length, stepIndex);

    /// <summary>Checks the step index and that the model output and sample have the same, non-zero length.</summary>
    protected void ValidateStep(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        ValidateStepIndex(stepIndex);
        StepArguments.RequireStepBuffers(modelOutput, sample);
    }

    /// <summary>Throws <see cref="ArgumentException"/> when two buffers that must match differ in length.</summary>
    protected static void RequireSameLength(int expected, int actual, string parameterName) => StepArguments.RequireSameLength(expected, actual, parameterName);

    /// <summary>Returns <paramref name="random"/> or throws for stochastic steps called without one.</summary>
    protected IRandomSource RequireRandom(IRandomSource? random) => StepArguments.RequireRandom(this, random);

    /// <summary>
    /// A scratch buffer of exactly <paramref name="length"/> floats for slot <paramref name="slot"/> (see <see cref="ScratchBuffers"/>):
    /// steadily stepping one sample size never allocates.
    /// </summary>
    protected Span<float> Scratch(int slot, int length) => _scratch.Get(slot, length);

    /// <summary>Allocates scratch slots 0..<paramref name="slotCount"/>-1 at <paramref name="length"/> up front, so multistep history slots first used in later steps do not allocate then.</summary>
    protected void ReserveScratch(int slotCount, int length)
    {
        for (int slot = 0; slot < slotCount; slot++)
            Scratch(slot, length);
    }

    /// <summary>True when slot <paramref name="slot"/> already holds a buffer of <paramref name="length"/> floats.</summary>
    protected bool HasScratch(int slot, int length) => _scratch.Has(slot, length);

    /// <summary>
    /// x0 from the model output with alpha-parameterised formulas (DDIM/DDPM), float32 as torch:
    /// epsilon: (x - √(1-ᾱ)·ε)/√ᾱ; v_prediction: √ᾱ·x - √(1-ᾱ)·v; sample: the output itself.
    /// <paramref name="destination"/> may alias <paramref name="modelOutput"/> but not <paramref name="sample"/>.
    /// </summary>
    protected void PredictOriginalSample(ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float alphaProdT, Span<float> destination)
    {
        float betaProdT = 1f - alphaProdT;
        float sqrtAlpha = MathF.Sqrt(alphaProdT);
        float sqrtBeta = MathF.Sqrt(betaProdT);
        switch (Config.PredictionType)
        {
            case "epsilon":
                TensorPrimitives.Multiply(modelOutput, sqrtBeta, destination);
                TensorPrimitives.Subtract(sample, destination, destination);
                TensorPrimitives.Divide(destination, sqrtAlpha, destination);
                break;
            case "v_prediction":
            {
                // √ᾱ·x − √(1-ᾱ)·v: each product rounded to float32, then the difference (no fused multiply-add), as the scalar expression.
                Span<float> scaledSample = Scratch(PredictionScratchSlot, destination.Length);
                TensorPrimitives.Multiply(modelOutput, sqrtBeta, destination);
                TensorPrimitives.Multiply(sample, sqrtAlpha, scaledSample);
                TensorPrimitives.Subtract(scaledSample, destination, destination);
                break;
            }
            case "sample":
                modelOutput.CopyTo(destination);
                break;
            default:
                throw UnsupportedPredictionType();
        }
    }

    /// <summary>The error for a <c>prediction_type</c> this scheduler does not implement.</summary>
    protected InvalidOptionException UnsupportedPredictionType()
        => new(SchedulerConfigJsonReader.DefaultSource + ": prediction_type", $"'{Config.PredictionType}' is not supported by {GetType().Name}; expected epsilon, v_prediction or sample.");

    /// <summary>Throws <see cref="InvalidOptionException"/> unless <c>prediction_type</c> is epsilon, v_prediction or sample.</summary>
    protected void RequireStandardPredictionType()
    {
        if (Config.PredictionType is not ("epsilon" or "v_prediction" or "sample"))
            throw UnsupportedPredictionType();
    }

    /// <summary>Applies dynamic thresholding when <c>thresholding</c> is on, else clamps to ±clip_sample_range when <c>clip_sample</c> is on.</summary>
    protected void ClipOrThreshold(Span<float> predictedOriginal)
    {
        if (Config.Thresholding)
            ThresholdSample(predictedOriginal);
        else if (Config.ClipSample)
            TensorPrimitives.Clamp(predictedOriginal, -Config.ClipSampleRange, Config.ClipSampleRange, predictedOriginal);
    }

    /// <summary>
    /// diffusers' <c>_threshold_sample</c> (Imagen dynamic thresholding): per sample, s = the
    /// <c>dynamic_thresholding_ratio</c> quantile of |x| (torch.quantile, linear interpolation), clamped to
    /// [1, sample_max_value]; then x = clamp(x, -s, s)/s.
    /// </summary>
    protected void ThresholdSample(Span<float> sample)
    {
        int count = SampleCount;
        if (sample.Length % count != 0)
            throw new InvalidOperationException($"{GetType().Name}: the sample length {sample.Length} is not a multiple of SampleCount {count}.");
        int perSample = sample.Length / count;
        // Its own buffer, not a Scratch slot: every slot shares one length, and a per-sample length would clear
        // them all, multistep history included, whenever SampleCount > 1.
        if (_thresholdSorted.Length != perSample)
            _thresholdSorted = new float[perSample];
        Span<float> sorted = _thresholdSorted;
        for (int b = 0; b < count; b++)
        {
            Span<float> item = sample.Slice(b * perSample, perSample);
            TensorPrimitives.Abs(item, sorted);
            sorted.Sort();
            // torch.quantile: rank = q·(n-1) in the input dtype, lerp between the neighbours.
            float rank = Config.DynamicThresholdingRatio * (perSample - 1);
            int below = (int)rank;
            int above = (int)MathF.Ceiling(rank);
            float weight = rank - below;
            float low = sorted[below], high = sorted[above];
            float s = MathF.Abs(weight) < 0.5f ? low + weight * (high - low) : high - (high - low) * (1f - weight);
            s = Math.Min(Math.Max(s, 1f), Config.SampleMaxValue);
            for (int i = 0; i < item.Length; i++)
                item[i] = Math.Min(Math.Max(item[i], -s), s) / s;
        }
    }

    /// <summary>Scratch slot <see cref="PredictOriginalSample"/> uses for a temporary product (v_prediction); derived classes leave it free.</summary>
    protected const int PredictionScratchSlot = 14;

    /// <summary>DDPM-style <c>add_noise</c>: √ᾱ_t·x0 + √(1-ᾱ_t)·ε at train timestep <paramref name="timestep"/>, float32 as torch.</summary>
    protected void AddNoiseAtTimestep(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int timestep, Span<float> destination)
    {
        RequireSameLength(originalSample.Length, noise.Length, nameof(noise));
        RequireSameLength(originalSample.Length, destination.Length, nameof(destination));
        float alphaProd = Schedule.AlphasCumprod[timestep];
        float sqrtAlpha = MathF.Sqrt(alphaProd);
        float sqrtOneMinusAlpha = MathF.Sqrt(1f - alphaProd);
        for (int i = 0; i < destination.Length; i++)
            destination[i] = sqrtAlpha * originalSample[i] + sqrtOneMinusAlpha * noise[i];
    }
}
