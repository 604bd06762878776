using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Trajectory Consistency Distillation sampling (arXiv 2402.19159), mirroring diffusers' <c>scheduling_tcd.py</c>
/// (<c>TCDScheduler</c>): each step predicts x0 and ε, jumps to an intermediate timestep s = ⌊(1-γ)·t_prev⌋,
/// then (for γ &gt; 0, all but the last step) re-noises forward to t_prev with a fresh N(0,1) draw.
/// </summary>
/// <remarks>
/// <para>
/// γ is diffusers' <c>step(eta=...)</c> argument (the "gamma" of the paper; default 0.3); it is a constructor
/// argument here because <see cref="SchedulerConfig.Eta"/> is DDIM's η, whose default of 0 would make TCD
/// deterministic. Timesteps follow the LCM distillation schedule (<c>original_inference_steps</c>). Supported:
/// prediction types epsilon/v_prediction/sample, all beta schedules and <c>rescale_betas_zero_snr</c>.
/// </para>
/// <para>
/// Left out: <c>strength</c> (image-to-image starts at a later step index instead), custom timesteps, the
/// full-range schedule diffusers uses when <c>set_timesteps</c> gets an explicit
/// <c>original_inference_steps</c>, and locating the step by timestep value. diffusers' TCD does not apply
/// <c>clip_sample</c> or thresholding; neither does this.
/// </para>
/// </remarks>
public sealed class TcdScheduler : SchedulerBase
{
    /// <summary>
    /// diffusers' <c>TCDScheduler.__init__</c> defaults, used for the fields a config file does not set: the same
    /// arguments and values as <c>LCMScheduler.__init__</c>'s.
    /// </summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = LcmScheduler.DiffusersDefaults with { ClassName = "TCDScheduler" };

    private const int PredictedOriginalSlot = 0;
    private const int PredictedEpsilonSlot = 1;
    private const int TempSlot = 2;

    /// <summary>Creates the scheduler with diffusers' default γ (<c>eta</c>) = 0.3.</summary>
    /// <exception cref="InvalidOptionException">A configuration value is not supported (named in the message).</exception>
    public TcdScheduler(SchedulerConfig config)
        : this(config, 0.3f)
    {
    }

    /// <summary>Creates the scheduler with stochasticity γ = <paramref name="gamma"/> (diffusers' <c>eta</c>, 0..1).</summary>
    /// <exception cref="InvalidOptionException"><paramref name="gamma"/> is outside [0, 1], or a configuration value is not supported.</exception>
    public TcdScheduler(SchedulerConfig config, float gamma)
        : base(config, DiffusersDefaults)
    {
        RequireStandardPredictionType();
        if (!(gamma >= 0f && gamma <= 1f))
        {
            throw new InvalidOptionException("eta", $"TCD's gamma must lie in [0, 1], got {gamma}.");
        }

        if (Config.OriginalInferenceSteps > Config.NumTrainTimesteps)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": original_inference_steps",
                $"{Config.OriginalInferenceSteps} exceeds num_train_timesteps ({Config.NumTrainTimesteps}).");
        }

        Gamma = gamma;
    }

    /// <summary>The stochasticity γ (diffusers' <c>eta</c>): 0 is deterministic, 1 re-noises from x0 each step.</summary>
    public float Gamma { get; }

    /// <inheritdoc/>
    /// <exception cref="InvalidOptionException">More steps than <c>original_inference_steps</c>.</exception>
    protected override float[] ComputeTimesteps(int inferenceSteps)
        => LcmScheduler.ConsistencyTimesteps(Config, inferenceSteps);

    /// <inheritdoc/>
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        bool last = stepIndex == Timesteps.Length - 1;
        bool stochastic = Gamma > 0f && !last;
        IRandomSource? source = stochastic ? RequireRandom(random) : null;
        int timestep = (int)Timesteps[stepIndex];
        int previousTimestep = last ? 0 : (int)Timesteps[stepIndex + 1];

        // torch.floor((1 - eta) * prev_timestep).long(): float32 product of the int64 tensor and the Python float.
        int timestepS = (int)MathF.Floor((float)(1.0 - Gamma) * previousTimestep);
        ReadOnlySpan<float> alphasCumprod = Schedule.AlphasCumprod;
        float alphaProd = alphasCumprod[timestep];
        float betaProd = 1f - alphaProd;
        float alphaProdPrevious = alphasCumprod[previousTimestep];
        float alphaProdS = alphasCumprod[timestepS];
        float betaProdS = 1f - alphaProdS;
        float sqrtAlpha = MathF.Sqrt(alphaProd);
        float sqrtBeta = MathF.Sqrt(betaProd);

        int n = sample.Length;
        Span<float> predictedOriginal = Scratch(PredictedOriginalSlot, n);
        Span<float> predictedEpsilon = Scratch(PredictedEpsilonSlot, n);
        switch (Config.PredictionType)
        {
            case "epsilon":
                TensorPrimitives.Multiply(modelOutput, sqrtBeta, predictedOriginal);
                TensorPrimitives.Subtract(sample, predictedOriginal, predictedOriginal);
                TensorPrimitives.Divide(predictedOriginal, sqrtAlpha, predictedOriginal);

                modelOutput.CopyTo(predictedEpsilon);
                break;
            case "sample":
                modelOutput.CopyTo(predictedOriginal);
                TensorPrimitives.Multiply(predictedOriginal, sqrtAlpha, predictedEpsilon);
                TensorPrimitives.Subtract(sample, predictedEpsilon, predictedEpsilon);
                TensorPrimitives.Divide(predictedEpsilon, sqrtBeta, predictedEpsilon);

                break;
            default:
            {
                // x0 = (√ᾱ·x) − (√(1-ᾱ)·v), ε = (√ᾱ·v) + (√(1-ᾱ)·x): products rounded, then the sum (no fused multiply-add).
                Span<float> term = Scratch(TempSlot, n);
                TensorPrimitives.Multiply(sample, sqrtAlpha, predictedOriginal);
                TensorPrimitives.Multiply(modelOutput, sqrtBeta, term);
                TensorPrimitives.Subtract(predictedOriginal, term, predictedOriginal);
                TensorPrimitives.Multiply(modelOutput, sqrtAlpha, predictedEpsilon);
                TensorPrimitives.Multiply(sample, sqrtBeta, term);
                TensorPrimitives.Add(predictedEpsilon, term, predictedEpsilon);

                break;
            }
        }

        // pred_noised_sample = √ᾱ_s·x0 + √(1-ᾱ_s)·ε
        float sqrtAlphaS = MathF.Sqrt(alphaProdS);
        float sqrtBetaS = MathF.Sqrt(betaProdS);
        TensorPrimitives.Multiply(predictedOriginal, sqrtAlphaS, predictedOriginal);
        TensorPrimitives.Multiply(predictedEpsilon, sqrtBetaS, predictedEpsilon);
        TensorPrimitives.Add(predictedOriginal, predictedEpsilon, sample);

        if (source is null)
        {
            return;
        }

        Span<float> noise = predictedOriginal;
        source.NextStandardNormal(noise);
        float ratio = alphaProdPrevious / alphaProdS;
        float keep = MathF.Sqrt(ratio);
        float fresh = MathF.Sqrt(1f - ratio);
        TensorPrimitives.Multiply(sample, keep, sample);
        TensorPrimitives.Multiply(noise, fresh, noise);
        TensorPrimitives.Add(sample, noise, sample);
    }

    /// <inheritdoc/>
    /// <remarks>DDPM-style: √ᾱ_t·x0 + √(1-ᾱ_t)·ε at the step's timestep.</remarks>
    public override void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        AddNoiseAtTimestep(originalSample, noise, (int)Timesteps[stepIndex], destination);
    }
}
