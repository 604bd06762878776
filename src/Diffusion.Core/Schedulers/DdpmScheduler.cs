using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// DDPM ancestral sampling (Ho et al. 2020), mirroring diffusers' <c>schedulers/scheduling_ddpm.py</c>
/// (<c>DDPMScheduler</c>): posterior mean from the predicted x0 (epsilon / v_prediction / sample, with
/// <c>clip_sample</c> or per-sample dynamic thresholding) plus noise for every timestep t &gt; 0, one N(0,1)
/// tensor per such step from the <see cref="IRandomSource"/>, as diffusers' <c>randn_tensor</c>.
/// <c>variance_type</c> fixed_small (the default when absent), fixed_small_log and fixed_large are supported.
/// </summary>
/// <remarks>
/// Left out: the learned / learned_range / fixed_large_log variance types (they need a model that predicts its
/// variance; rejected with <see cref="InvalidOptionException"/>), the <c>sigmoid</c>/<c>laplace</c> beta
/// schedules, custom timestep lists, and <c>get_velocity</c>.
/// </remarks>
public sealed class DdpmScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>DDPMScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "DDPMScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", VarianceType = "fixed_small", ClipSample = true, PredictionType = "epsilon", Thresholding = false, DynamicThresholdingRatio = 0.995f, ClipSampleRange = 1f, SampleMaxValue = 1f, TimestepSpacing = "leading", StepsOffset = 0, RescaleBetasZeroSnr = false,
    };

    private readonly string _varianceType;

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A config value is unsupported.</exception>
    public DdpmScheduler(SchedulerConfig config) : base(config, DiffusersDefaults)
    {
        RequireStandardPredictionType();
        _varianceType = Config.VarianceType ?? "fixed_small";
        if (_varianceType is not ("fixed_small" or "fixed_small_log" or "fixed_large"))
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": variance_type", $"'{_varianceType}' is not supported by DdpmScheduler; expected fixed_small, fixed_small_log or fixed_large.");
    }

    /// <inheritdoc />
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        double[] raw = NoiseSchedule.SpacedTimesteps(Config.TimestepSpacing, Config.NumTrainTimesteps, inferenceSteps, Config.StepsOffset);
        var timesteps = new float[raw.Length];
        for (int i = 0; i < raw.Length; i++)
            timesteps[i] = (long)Math.Round(raw[i], MidpointRounding.ToEven);
        return timesteps;
    }

    /// <inheritdoc />
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        int timestep = (int)Timesteps[stepIndex];
        // previous_timestep: the next entry of the schedule, -1 after the last.
        int previousTimestep = stepIndex + 1 < Timesteps.Length ? (int)Timesteps[stepIndex + 1] : -1;
        float alphaProd = AlphaCumprodAt(timestep);
        float alphaProdPrevious = previousTimestep >= 0 ? AlphaCumprodAt(previousTimestep) : 1f;
        float betaProd = 1f - alphaProd;
        float betaProdPrevious = 1f - alphaProdPrevious;
        float currentAlpha = alphaProd / alphaProdPrevious;
        float currentBeta = 1f - currentAlpha;

        int n = sample.Length;
        Span<float> predictedOriginal = Scratch(0, n);
        PredictOriginalSample(modelOutput, sample, alphaProd, predictedOriginal);
        ClipOrThreshold(predictedOriginal);

        float originalCoefficient = MathF.Sqrt(alphaProdPrevious) * currentBeta / betaProd;
        float sampleCoefficient = MathF.Sqrt(currentAlpha) * betaProdPrevious / betaProd;
        // both products rounded to float32, then the sum (no fused multiply-add), as the scalar expression
        TensorPrimitives.Multiply(predictedOriginal, originalCoefficient, predictedOriginal);
        TensorPrimitives.Multiply(sample, sampleCoefficient, sample);
        TensorPrimitives.Add(predictedOriginal, sample, sample);

        if (timestep > 0)
        {
            Span<float> noise = predictedOriginal;
            RequireRandom(random).NextStandardNormal(noise);
            // _get_variance, float32 as torch; clamped to 1e-20 because diffusers takes its log.
            float variance = (1f - alphaProdPrevious) / (1f - alphaProd) * currentBeta;
            variance = Math.Max(variance, 1e-20f);
            float scale = _varianceType switch
            {
                "fixed_small_log" => (float)Math.Exp(0.5f * (float)Math.Log(variance)),
                "fixed_large" => MathF.Sqrt(currentBeta),
                _ => MathF.Sqrt(variance),
            };
            TensorPrimitives.Multiply(noise, scale, noise);
            TensorPrimitives.Add(sample, noise, sample);
        }
    }

    /// <inheritdoc />
    public override void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        int timestep = (int)Timesteps[stepIndex];
        AlphaCumprodAt(timestep);
        AddNoiseAtTimestep(originalSample, noise, timestep, destination);
    }

    private float AlphaCumprodAt(int timestep)
    {
        if ((uint)timestep >= (uint)Schedule.TrainTimesteps)
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": steps_offset", $"timestep {timestep} is outside the {Schedule.TrainTimesteps} training timesteps.");
        return Schedule.AlphasCumprod[timestep];
    }
}
