using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Heun's second-order sampler for rectified-flow models, mirroring diffusers'
/// <c>schedulers/scheduling_flow_match_heun_discrete.py</c> (<c>FlowMatchHeunDiscreteScheduler</c>): every logical
/// step but the last takes two model evaluations, so <see cref="IScheduler.Timesteps"/> has 2·steps − 1 entries
/// (each after the first repeated); even step indices are Euler predictions, odd ones the corrections. Its config
/// has <c>num_train_timesteps</c> and <c>shift</c> only (applied in the constructor and again in
/// <c>set_timesteps</c>, as diffusers does).
/// </summary>
/// <remarks>
/// The churn arguments of diffusers' <c>step</c> (<c>s_churn</c>, <c>s_tmin</c>, <c>s_tmax</c>, <c>s_noise</c>) are
/// constructor arguments here, off by default as in the pipelines; with churn, noise is drawn on every step whose
/// sigma lies in [s_tmin, s_tmax], prediction and correction alike, as diffusers draws it. Steps must run in order
/// from index 0.
/// </remarks>
public sealed class FlowMatchHeunDiscreteScheduler : FlowMatchSchedulerBase
{
    /// <summary>diffusers' <c>FlowMatchHeunDiscreteScheduler.__init__</c> defaults.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "FlowMatchHeunDiscreteScheduler",
        NumTrainTimesteps = 1000,
        Shift = 1.0,
    };

    private readonly (double Max, double Min) _trainingBounds;
    private int _pendingPredictionIndex = -1;
    private float _pendingDt;

    /// <summary>Creates the scheduler for <paramref name="config"/> with diffusers' step defaults (no churn).</summary>
    /// <exception cref="InvalidOptionException">A config value is out of range.</exception>
    public FlowMatchHeunDiscreteScheduler(SchedulerConfig config) : this(config, 0f, 0f, float.PositiveInfinity, 1f)
    {
    }

    /// <summary>Creates the scheduler with the churn arguments diffusers' <c>step</c> takes.</summary>
    /// <param name="config">The scheduler configuration.</param>
    /// <param name="sChurn"><c>s_churn</c>: noise added per step, γ = min(s_churn/(len(sigmas) − 1), √2 − 1); 0 = none.</param>
    /// <param name="sTMin"><c>s_tmin</c>: churn only where σ ≥ this.</param>
    /// <param name="sTMax"><c>s_tmax</c>: churn only where σ ≤ this.</param>
    /// <param name="sNoise"><c>s_noise</c>: scale of the churn noise.</param>
    /// <exception cref="InvalidOptionException">A config value or churn argument is out of range.</exception>
    public FlowMatchHeunDiscreteScheduler(SchedulerConfig config, float sChurn, float sTMin, float sTMax, float sNoise)
        : base(config, DiffusersDefaults)
    {
        if (!(sChurn >= 0f && float.IsFinite(sChurn)))
            throw new InvalidOptionException("s_churn", $"must be a finite value >= 0, got {sChurn}.");
        if (float.IsNaN(sTMin) || float.IsNaN(sTMax) || sTMin > sTMax)
            throw new InvalidOptionException("s_tmin", $"s_tmin ({sTMin}) must not exceed s_tmax ({sTMax}).");
        if (!float.IsFinite(sNoise))
            throw new InvalidOptionException("s_noise", $"must be finite, got {sNoise}.");
        SChurn = sChurn;
        STMin = sTMin;
        STMax = sTMax;
        SNoise = sNoise;
        _trainingBounds = FlowMatchSigmas.TrainingBounds(Config.NumTrainTimesteps, Config.Shift, applyShift: true);
    }

    /// <summary>diffusers' <c>s_churn</c>.</summary>
    public float SChurn { get; }

    /// <summary>diffusers' <c>s_tmin</c>.</summary>
    public float STMin { get; }

    /// <summary>diffusers' <c>s_tmax</c>.</summary>
    public float STMax { get; }

    /// <summary>diffusers' <c>s_noise</c>.</summary>
    public float SNoise { get; }

    /// <inheritdoc />
    public override int Order => 2;

    /// <inheritdoc />
    public override void SetTimesteps(int inferenceSteps)
    {
        FlowMatchSigmas.RequireStepCount(inferenceSteps);
        // Only num_train_timesteps and shift are this class's options: the rest of the config is not read.
        SchedulerConfig own = DiffusersDefaults with { NumTrainTimesteps = Config.NumTrainTimesteps, Shift = Config.Shift };
        float[] schedule = FlowMatchSigmas.Schedule(own, _trainingBounds, inferenceSteps, null, null, null);
        (float[] timesteps, float[] sigmas) = WithTerminal(schedule, invert: false);
        // timesteps[:1] then timesteps[1:] twice; sigmas[:1], sigmas[1:-1] twice, sigmas[-1:] (the final 0).
        float[] interleavedTimesteps = DiscreteSigmas.RepeatAfterFirst(timesteps);
        float[] interleavedSigmas = DiscreteSigmas.RepeatAfterFirst(sigmas.AsSpan(0, sigmas.Length - 1), extra: 1);
        interleavedSigmas[^1] = sigmas[^1];
        SetSchedule(inferenceSteps, interleavedTimesteps, interleavedSigmas);
    }

    /// <inheritdoc />
    protected override void ResetState() => _pendingPredictionIndex = -1;

    /// <inheritdoc />
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        int n = sample.Length;
        Span<float> derivative = Scratch(1, n);
        Span<float> previousDerivative = Scratch(2, n);
        Span<float> previousSample = Scratch(3, n);
        bool firstOrder = stepIndex % 2 == 0;
        if (!firstOrder && _pendingPredictionIndex != stepIndex - 1)
            throw new InvalidOperationException($"FlowMatchHeunDiscreteScheduler: step {stepIndex} corrects step {stepIndex - 1}, which was not run just before it.");
        float sigma = firstOrder ? Sigmas[stepIndex] : Sigmas[stepIndex - 1];
        float sigmaNext = firstOrder ? Sigmas[stepIndex + 1] : Sigmas[stepIndex];

        double gamma = SChurn > 0f && STMin <= sigma && sigma <= STMax
            ? Math.Min(SChurn / (double)(Sigmas.Length - 1), Math.Sqrt(2) - 1)
            : 0.0;
        float sigmaHat = sigma * (float)(gamma + 1);
        if (gamma > 0)
        {
            // x += noise·s_noise·√(σ̂² − σ²), float32 as torch.
            RequireRandom(random).NextStandardNormal(derivative);
            TensorPrimitives.Multiply(derivative, SNoise, derivative);
            TensorPrimitives.Multiply(derivative, MathF.Sqrt(sigmaHat * sigmaHat - sigma * sigma), derivative);
            TensorPrimitives.Add(sample, derivative, sample);
        }

        if (firstOrder)
        {
            // denoised = x − v·σ; d = (x − denoised)/σ̂; dt = σ_next − σ̂; x += d·dt.
            TensorPrimitives.Multiply(modelOutput, sigma, derivative);
            TensorPrimitives.Subtract(sample, derivative, derivative);
            TensorPrimitives.Subtract(sample, derivative, previousDerivative);
            TensorPrimitives.Divide(previousDerivative, sigmaHat, previousDerivative);
            float dt = sigmaNext - sigmaHat;
            sample.CopyTo(previousSample);
            TensorPrimitives.Multiply(previousDerivative, dt, derivative);
            TensorPrimitives.Add(sample, derivative, sample);
            _pendingPredictionIndex = stepIndex;
            _pendingDt = dt;
        }
        else
        {
            // denoised = x − v·σ_next; d = ((x − denoised)/σ_next + d_prev)·0.5; x = x_prev + d·dt.
            TensorPrimitives.Multiply(modelOutput, sigmaNext, derivative);
            TensorPrimitives.Subtract(sample, derivative, derivative);
            TensorPrimitives.Subtract(sample, derivative, derivative);
            TensorPrimitives.Divide(derivative, sigmaNext, derivative);
            TensorPrimitives.Add(previousDerivative, derivative, derivative);
            TensorPrimitives.Multiply(derivative, 0.5f, derivative);
            TensorPrimitives.Multiply(derivative, _pendingDt, derivative);
            TensorPrimitives.Add(previousSample, derivative, sample);
            _pendingPredictionIndex = -1;
        }
    }
}
