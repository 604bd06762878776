using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Latent Consistency Model multistep sampling (arXiv 2310.04378), mirroring diffusers'
/// <c>scheduling_lcm.py</c> (<c>LCMScheduler</c>): each step predicts x0, applies the consistency-model boundary
/// condition (c_skip·x + c_out·x0), and re-noises to the next timestep with a fresh N(0,1) draw (all but the last step).
/// </summary>
/// <remarks>
/// <para>
/// Timesteps are a subset of the <c>original_inference_steps</c>-step distillation schedule
/// (k = N / original_inference_steps; k-1, 2k-1, …), picked evenly from the noisy end. Supported: prediction
/// types epsilon/v_prediction/sample, <c>timestep_scaling</c>, <c>clip_sample</c>, dynamic thresholding, all
/// beta schedules and <c>rescale_betas_zero_snr</c>. <c>timestep_spacing</c>/<c>steps_offset</c> do not
/// apply (diffusers' class ignores them too).
/// </para>
/// <para>
/// Left out: <c>strength</c> in <c>set_timesteps</c> (image-to-image starts at a later step index instead),
/// custom timesteps, and locating the step by timestep value.
/// </para>
/// </remarks>
public sealed class LcmScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>LCMScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "LCMScheduler",
        NumTrainTimesteps = 1000,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = "scaled_linear",
        TrainedBetas = null,
        OriginalInferenceSteps = 50,
        ClipSample = false,
        ClipSampleRange = 1f,
        SetAlphaToOne = true,
        StepsOffset = 0,
        PredictionType = "epsilon",
        Thresholding = false,
        DynamicThresholdingRatio = 0.995f,
        SampleMaxValue = 1f,
        TimestepSpacing = "leading",
        TimestepScaling = 10.0,
        RescaleBetasZeroSnr = false,
    };

    private const int PredictedOriginalSlot = 0;

    /// <summary>Creates the scheduler from a diffusers configuration; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A configuration value is not supported (named in the message).</exception>
    public LcmScheduler(SchedulerConfig config)
        : base(config, DiffusersDefaults)
    {
        RequireStandardPredictionType();
        if (Config.OriginalInferenceSteps > Config.NumTrainTimesteps)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": original_inference_steps",
                $"{Config.OriginalInferenceSteps} exceeds num_train_timesteps ({Config.NumTrainTimesteps}).");
        }
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOptionException">More steps than <c>original_inference_steps</c>.</exception>
    protected override float[] ComputeTimesteps(int inferenceSteps)
        => ConsistencyTimesteps(Config, inferenceSteps);

    /// <summary>
    /// The LCM/TCD schedule: the distillation timesteps (k-1, 2k-1, …, with k = N // original_inference_steps)
    /// reversed, sampled at floor(linspace(0, count, steps, endpoint=False)).
    /// </summary>
    internal static float[] ConsistencyTimesteps(SchedulerConfig config, int inferenceSteps)
    {
        int originalSteps = config.OriginalInferenceSteps;
        if (inferenceSteps > originalSteps)
        {
            throw new InvalidOptionException("InferenceSteps",
                $"{inferenceSteps} exceeds original_inference_steps ({originalSteps}); the schedule is a subset of the distillation schedule.");
        }

        int k = config.NumTrainTimesteps / originalSteps;
        var timesteps = new float[inferenceSteps];
        double stride = (double)originalSteps / inferenceSteps;
        for (int i = 0; i < inferenceSteps; i++)
        {
            // Reversed origin schedule: position p holds (originalSteps - p) * k - 1.
            int position = (int)Math.Floor(i * stride);
            timesteps[i] = ((originalSteps - position) * k) - 1;
        }

        return timesteps;
    }

    /// <inheritdoc/>
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        bool last = stepIndex == Timesteps.Length - 1;
        IRandomSource? source = last ? null : RequireRandom(random);
        int timestep = (int)Timesteps[stepIndex];
        int previousTimestep = last ? timestep : (int)Timesteps[stepIndex + 1];
        float alphaProd = Schedule.AlphasCumprod[timestep];
        float alphaProdPrevious = Schedule.AlphasCumprod[previousTimestep];
        float betaProdPrevious = 1f - alphaProdPrevious;
        (float cSkip, float cOut) = BoundaryScalings(timestep, (float)Config.TimestepScaling);

        Span<float> predictedOriginal = Scratch(PredictedOriginalSlot, sample.Length);
        PredictOriginalSample(modelOutput, sample, alphaProd, predictedOriginal);
        ClipOrThreshold(predictedOriginal);

        // denoised = c_out * x0 + c_skip * x; the last step returns it, the others re-noise it.
        // Vectorised: both products rounded to float32, then the sum (no fused multiply-add), as the scalar expression.
        TensorPrimitives.Multiply(predictedOriginal, cOut, predictedOriginal);
        TensorPrimitives.Multiply(sample, cSkip, sample);
        TensorPrimitives.Add(predictedOriginal, sample, sample);

        if (source is null)
        {
            return;
        }

        Span<float> noise = predictedOriginal; // x0 is no longer needed
        source.NextStandardNormal(noise);
        float sqrtAlphaPrevious = MathF.Sqrt(alphaProdPrevious);
        float sqrtBetaPrevious = MathF.Sqrt(betaProdPrevious);
        TensorPrimitives.Multiply(sample, sqrtAlphaPrevious, sample);
        TensorPrimitives.Multiply(noise, sqrtBetaPrevious, noise);
        TensorPrimitives.Add(sample, noise, sample);
    }

    /// <inheritdoc/>
    /// <remarks>DDPM-style: √ᾱ_t·x0 + √(1-ᾱ_t)·ε at the step's timestep.</remarks>
    public override void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        AddNoiseAtTimestep(originalSample, noise, (int)Timesteps[stepIndex], destination);
    }

    /// <summary>
    /// diffusers' <c>get_scalings_for_boundary_condition_discrete</c> with σ_data = 0.5, in float32 as torch computes
    /// it from the int64 timestep tensor: s = t·scaling, c_skip = ¼/(s²+¼), c_out = s/√(s²+¼).
    /// </summary>
    private static (float Skip, float Out) BoundaryScalings(int timestep, float scaling)
    {
        float scaled = timestep * scaling;
        float denominator = (scaled * scaled) + 0.25f;
        return (0.25f / denominator, scaled / MathF.Sqrt(denominator));
    }
}
