using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Linear multistep (LMS, k-diffusion's "sample_lms", order 4), mirroring diffusers'
/// <c>schedulers/scheduling_lms_discrete.py</c> (<c>LMSDiscreteScheduler</c>): the next sample is the current
/// one plus a combination of the last (up to) four derivatives with coefficients ∫ of the Lagrange basis
/// polynomials over [σ_i, σ_i+1]. diffusers integrates them numerically with scipy's <c>quad</c>; the integrand
/// is a polynomial of degree ≤ 3, so a 4-point Gauss–Legendre rule integrates it exactly here.
/// Supports epsilon / v_prediction / sample and Karras / exponential / beta sigmas.
/// </summary>
/// <remarks>
/// Left out: a per-call <c>order</c> other than diffusers' default 4, and custom timestep lists. Steps must run
/// in order from index 0 (the derivative history is the multistep state).
/// </remarks>
public sealed class LmsDiscreteScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>LMSDiscreteScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "LMSDiscreteScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", PredictionType = "epsilon", TimestepSpacing = "linspace", StepsOffset = 0,
    };

    private const int LmsOrder = 4;
    private static readonly double[] s_gaussLegendreNodes = [-0.86113631159405257522, -0.33998104358485626480, 0.33998104358485626480, 0.86113631159405257522];
    private static readonly double[] s_gaussLegendreWeights = [0.34785484513745385737, 0.65214515486254614263, 0.65214515486254614263, 0.34785484513745385737];
    private float[] _sigmas = [];
    private int _nextStepIndex;
    private int _historyCount;
    private int _historyHead; // slot of the newest derivative in the ring of LmsOrder scratch buffers

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A config value is unsupported.</exception>
    public LmsDiscreteScheduler(SchedulerConfig config) : base(config, DiffusersDefaults) => RequireStandardPredictionType();

    /// <inheritdoc />
    public override float InitNoiseSigma => DiscreteSigmas.InitNoiseSigma(Config, _sigmas.Length > 0 ? _sigmas : Schedule.Sigmas);

    /// <summary>The sigma at each step index plus the final 0.</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <inheritdoc />
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        double[] timesteps = DiscreteSigmas.SpacedTimesteps(Config, inferenceSteps);
        double[] sigmas = DiscreteSigmas.Interpolate(Schedule.Sigmas, timesteps);
        DiscreteSigmas.ApplySigmaKind(Config, Schedule.LogSigmas, inferenceSteps, useConfigBounds: false, roundKarrasTimesteps: false, ref timesteps, ref sigmas);
        _sigmas = DiscreteSigmas.AppendAndRound(sigmas, 0.0);
        _nextStepIndex = 0;
        _historyCount = 0;
        _historyHead = -1;
        return DiscreteSigmas.ToSingle(timesteps);
    }

    /// <inheritdoc />
    public override void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        RequireSameLength(sample.Length, destination.Length, nameof(destination));
        DiscreteSigmas.ScaleBySigma(sample, _sigmas[stepIndex], destination);
    }

    /// <inheritdoc />
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        if (stepIndex != _nextStepIndex)
            throw new InvalidOperationException($"LmsDiscreteScheduler: expected step index {_nextStepIndex} (steps run in order after SetTimesteps), got {stepIndex}.");
        int n = sample.Length;
        if (_historyCount > 0 && !HasScratch(_historyHead, n))
            throw new InvalidOperationException("LmsDiscreteScheduler: the sample length changed during a run; call SetTimesteps first.");
        ReserveScratch(LmsOrder + 1, n);
        float sigma = _sigmas[stepIndex];

        // The derivative goes into the ring slot after the newest one.
        _historyHead = (_historyHead + 1) % LmsOrder;
        Span<float> derivative = Scratch(_historyHead, n);
        DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigma, derivative);
        for (int i = 0; i < n; i++)
            derivative[i] = (sample[i] - derivative[i]) / sigma;
        _historyCount = Math.Min(_historyCount + 1, LmsOrder);

        int order = Math.Min(stepIndex + 1, LmsOrder);
        // sum(coeff * derivative for coeff, derivative in zip(coeffs, reversed(derivatives))): Python's sum starts
        // at 0 and adds each float32 product in turn; the coefficients are rounded to float32 by torch.
        Span<float> accumulator = Scratch(LmsOrder, n);
        for (int k = 0; k < order; k++)
        {
            float coefficient = (float)LmsCoefficient(order, stepIndex, k);
            ReadOnlySpan<float> d = Scratch((_historyHead - k + LmsOrder) % LmsOrder, n);
            if (k == 0)
            {
                for (int i = 0; i < n; i++)
                    accumulator[i] = 0f + coefficient * d[i];
            }
            else
            {
                for (int i = 0; i < n; i++)
                    accumulator[i] = accumulator[i] + coefficient * d[i];
            }
        }
        for (int i = 0; i < n; i++)
            sample[i] = sample[i] + accumulator[i];
        _nextStepIndex = stepIndex + 1;
    }

    /// <summary>
    /// ∫_{σ_t}^{σ_t+1} ∏_{k≠j} (τ − σ_{t−k}) / (σ_{t−j} − σ_{t−k}) dτ (diffusers' <c>get_lms_coefficient</c>),
    /// exactly, by 4-point Gauss–Legendre (the integrand has degree order − 1 ≤ 3).
    /// </summary>
    private double LmsCoefficient(int order, int t, int currentOrder)
    {
        double[] nodes = s_gaussLegendreNodes;
        double[] weights = s_gaussLegendreWeights;
        double a = _sigmas[t], b = _sigmas[t + 1];
        double half = 0.5 * (b - a), mid = 0.5 * (a + b);
        double integral = 0;
        for (int q = 0; q < nodes.Length; q++)
        {
            double tau = mid + half * nodes[q];
            double product = 1.0;
            for (int k = 0; k < order; k++)
            {
                if (k == currentOrder)
                    continue;
                product *= (tau - _sigmas[t - k]) / ((double)_sigmas[t - currentOrder] - _sigmas[t - k]);
            }
            integral += weights[q] * product;
        }
        return integral * half;
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
