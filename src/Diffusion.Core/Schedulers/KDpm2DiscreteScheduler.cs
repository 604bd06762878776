using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// KDPM2 (k-diffusion's DPM-Solver-2 "sample_dpm_2"), mirroring diffusers'
/// <c>schedulers/scheduling_k_dpm_2_discrete.py</c> (<c>KDPM2DiscreteScheduler</c>): each logical step goes
/// to the geometric-mean sigma with the current slope, evaluates the model there and completes the step with
/// that midpoint slope. <see cref="IScheduler.Timesteps"/> has 2·steps − 1 entries (midpoint timesteps
/// interleaved); even step indices are the first half, odd ones the midpoint completion.
/// Supports epsilon / v_prediction, Karras (timesteps rounded, as diffusers) / exponential / beta sigmas.
/// </summary>
/// <remarks>
/// Left out: custom timestep lists. diffusers raises for <c>prediction_type</c> sample, and so does this class.
/// Steps must run in order.
/// </remarks>
public sealed class KDpm2DiscreteScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>KDPM2DiscreteScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "KDPM2DiscreteScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = "linear", PredictionType = "epsilon", TimestepSpacing = "linspace", StepsOffset = 0,
    };

    private float[] _sigmas = [];
    private float[] _sigmasInterpol = [];
    private int _pendingFirstHalfIndex = -1;

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException"><c>prediction_type</c> is not epsilon or v_prediction, or another value is out of range.</exception>
    public KDpm2DiscreteScheduler(SchedulerConfig config) : base(config, DiffusersDefaults)
    {
        if (Config.PredictionType is not ("epsilon" or "v_prediction"))
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": prediction_type", $"'{Config.PredictionType}' is not supported by KDpm2DiscreteScheduler; expected epsilon or v_prediction.");
    }

    /// <inheritdoc />
    public override int Order => 2;

    /// <inheritdoc />
    public override float InitNoiseSigma => DiscreteSigmas.InitNoiseSigma(Config, _sigmas.Length > 0 ? _sigmas : Schedule.Sigmas);

    /// <summary>The interleaved sigmas (diffusers' <c>self.sigmas</c>).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <inheritdoc />
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        double[] timesteps = DiscreteSigmas.SpacedTimesteps(Config, inferenceSteps);
        double[] sigmas64 = DiscreteSigmas.Interpolate(Schedule.Sigmas, timesteps);
        DiscreteSigmas.ApplySigmaKind(Config, Schedule.LogSigmas, inferenceSteps, useConfigBounds: false, roundKarrasTimesteps: true, ref timesteps, ref sigmas64);
        float[] sigmas = DiscreteSigmas.AppendAndRound(sigmas64, 0.0);

        // sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp(): geometric means with the previous sigma (float32;
        // the first entry is NaN in diffusers too and is never used).
        int m = sigmas.Length;
        var interpol = new float[m];
        for (int i = 0; i < m; i++)
            interpol[i] = GeometricMidpoint(sigmas[i], sigmas[(i - 1 + m) % m]);
        _sigmas = DiscreteSigmas.Interleave(sigmas);
        _sigmasInterpol = DiscreteSigmas.Interleave(interpol);
        _pendingFirstHalfIndex = -1;

        // [t0, ti1, t1, ti2, t2, ...]: ti_k = _sigma_to_t(interpol[k]) for k = 1..m-2.
        int n = timesteps.Length;
        var result = new float[2 * n - 1];
        result[0] = (float)timesteps[0];
        for (int k = 1; k < n; k++)
        {
            result[2 * k - 1] = NoiseSchedule.SigmaToTimestepSingle(Schedule.LogSigmas, interpol[k]);
            result[2 * k] = (float)timesteps[k];
        }
        return result;
    }

    /// <summary>exp(lerp(ln a, ln b, 0.5)) in float32 with torch's lerp formula for weight 0.5.</summary>
    internal static float GeometricMidpoint(float a, float b)
    {
        float logA = (float)Math.Log(a);
        float logB = (float)Math.Log(b);
        float lerp = logB - (logB - logA) * 0.5f;
        return (float)Math.Exp(lerp);
    }

    /// <inheritdoc />
    public override void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        RequireSameLength(sample.Length, destination.Length, nameof(destination));
        float sigma = stepIndex % 2 == 0 ? _sigmas[stepIndex] : _sigmasInterpol[stepIndex];
        DiscreteSigmas.ScaleBySigma(sample, sigma, destination);
    }

    /// <inheritdoc />
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        int n = sample.Length;
        Span<float> predicted = Scratch(0, n);
        Span<float> firstSample = Scratch(1, n);
        if (stepIndex % 2 == 0)
        {
            float sigma = _sigmas[stepIndex];
            float sigmaInterpol = _sigmasInterpol[stepIndex + 1];
            DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigma, predicted, Scratch(PredictionScratchSlot, sample.Length));
            float dt = sigmaInterpol - sigma;
            // derivative = (x − x0)/σ; x += derivative·dt — one float32 rounding per scalar operation, no fused multiply-add.
            TensorPrimitives.Subtract(sample, predicted, predicted);
            TensorPrimitives.Divide(predicted, sigma, predicted);
            sample.CopyTo(firstSample);
            TensorPrimitives.Multiply(predicted, dt, predicted);
            TensorPrimitives.Add(sample, predicted, sample);
            _pendingFirstHalfIndex = stepIndex;
        }
        else
        {
            if (_pendingFirstHalfIndex != stepIndex - 1)
                throw new InvalidOperationException($"KDpm2DiscreteScheduler: step {stepIndex} completes step {stepIndex - 1}, which was not run just before it.");
            float sigma = _sigmas[stepIndex - 1];
            float sigmaInterpol = _sigmasInterpol[stepIndex];
            float sigmaNext = _sigmas[stepIndex];
            DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigmaInterpol, predicted, Scratch(PredictionScratchSlot, sample.Length));
            float dt = sigmaNext - sigma;
            // derivative = (x − x0)/σ_interpol; x = x_first + derivative·dt, op by op as the scalar expression.
            TensorPrimitives.Subtract(sample, predicted, predicted);
            TensorPrimitives.Divide(predicted, sigmaInterpol, predicted);
            TensorPrimitives.Multiply(predicted, dt, predicted);
            TensorPrimitives.Add(firstSample, predicted, sample);
            _pendingFirstHalfIndex = -1;
        }
    }

    /// <inheritdoc />
    public override void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        RequireSameLength(originalSample.Length, noise.Length, nameof(noise));
        RequireSameLength(originalSample.Length, destination.Length, nameof(destination));
        DiscreteSigmas.AddNoise(originalSample, noise, _sigmas[stepIndex], destination);
    }
}
