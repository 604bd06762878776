using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Linear multistep (LMS, k-diffusion's "sample_lms", order 4), mirroring diffusers'
/// <c>schedulers/scheduling_lms_discrete.py</c> (<c>LMSDiscreteScheduler</c>): the next sample is the current
/// one plus a combination of the last (up to) four derivatives with coefficients ∫ of the Lagrange basis
/// polynomials over [σ_i, σ_i+1]. diffusers integrates them with scipy's <c>quad</c> over a float32 integrand;
/// this class reproduces that quadrature (QUADPACK's 21-point Gauss–Kronrod rule, which integrates the degree ≤ 3
/// polynomial exactly up to the float32 evaluation) rather than integrating in closed form.
/// Supports epsilon / v_prediction / sample and Karras / exponential / beta sigmas.
/// </summary>
/// <remarks>
/// Left out: a per-call <c>order</c> other than diffusers' default 4, and custom timestep lists. Steps must run
/// in consecutive order from the first one, which may be part-way for img2img (the derivative history is the
/// multistep state).
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
    // QUADPACK's 21-point Gauss–Kronrod rule (dqk21): abscissae xgk(1..11) and Kronrod weights wgk(1..11).
    private static readonly double[] s_kronrodNodes =
    [
        0.995657163025808080735527280689003, 0.973906528517171720077964012084452, 0.930157491355708226001207180059508,
        0.865063366688984510732096688423493, 0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
        0.562757134668604683339000099272694, 0.433395394129247190799265943165784, 0.294392862701460198131126603103866,
        0.148874338981631210884826001129720, 0.0,
    ];
    private static readonly double[] s_kronrodWeights =
    [
        0.011694638867371874278064396062192, 0.032558162307964727478818972459390, 0.054755896574351996031381300244580,
        0.075039674810919952767043140916190, 0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
        0.123491976262065851077958109831074, 0.134709217311473325928054001771707, 0.142775938577060080797094273138717,
        0.147739104901338491374841515972068, 0.149445554002916905664936468389821,
    ];
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
        // The first step may be part-way (img2img); the rest must follow on.
        if (_historyCount > 0 && stepIndex != _nextStepIndex)
            throw new InvalidOperationException($"LmsDiscreteScheduler: expected step index {_nextStepIndex} (steps run in order after the first), got {stepIndex}.");
        int n = sample.Length;
        if (_historyCount > 0 && !HasScratch(_historyHead, n))
            throw new InvalidOperationException("LmsDiscreteScheduler: the sample length changed during a run; call SetTimesteps first.");
        ReserveScratch(LmsOrder + 2, n);
        float sigma = _sigmas[stepIndex];

        // The derivative goes into the ring slot after the newest one.
        _historyHead = (_historyHead + 1) % LmsOrder;
        Span<float> derivative = Scratch(_historyHead, n);
        DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigma, derivative, Scratch(PredictionScratchSlot, sample.Length));
        TensorPrimitives.Subtract(sample, derivative, derivative);
        TensorPrimitives.Divide(derivative, sigma, derivative);
        _historyCount = Math.Min(_historyCount + 1, LmsOrder);

        int order = Math.Min(stepIndex + 1, LmsOrder);
        // zip(coefficients, reversed(derivatives)) stops at the shorter list: after a part-way start there are
        // fewer derivatives than the order the coefficients are computed for.
        int terms = Math.Min(order, _historyCount);
        // sum(coeff * derivative for coeff, derivative in zip(coeffs, reversed(derivatives))): Python's sum starts
        // at 0 and adds each float32 product in turn; the coefficients are rounded to float32 by torch.
        // Vectorised with one float32 rounding per scalar operation (products then sums, never fused); the leading
        // 0 + … is kept because it turns −0 into +0.
        Span<float> accumulator = Scratch(LmsOrder, n);
        Span<float> term = Scratch(LmsOrder + 1, n);
        for (int k = 0; k < terms; k++)
        {
            float coefficient = (float)LmsCoefficient(order, stepIndex, k);
            ReadOnlySpan<float> d = Scratch((_historyHead - k + LmsOrder) % LmsOrder, n);
            if (k == 0)
            {
                TensorPrimitives.Multiply(d, coefficient, accumulator);
                TensorPrimitives.Add(accumulator, 0f, accumulator);
            }
            else
            {
                TensorPrimitives.Multiply(d, coefficient, term);
                TensorPrimitives.Add(accumulator, term, accumulator);
            }
        }
        TensorPrimitives.Add(sample, accumulator, sample);
        _nextStepIndex = stepIndex + 1;
    }

    /// <summary>
    /// ∫_{σ_t}^{σ_t+1} ∏_{k≠j} (τ − σ_{t−k}) / (σ_{t−j} − σ_{t−k}) dτ (diffusers' <c>get_lms_coefficient</c>).
    /// diffusers hands this integrand to scipy's <c>quad</c> (QUADPACK qags), which for a polynomial of degree ≤ 3
    /// accepts its first 21-point Gauss–Kronrod estimate; the integrand itself runs on float32 torch tensors. Both
    /// are reproduced here: QUADPACK's qk21 sums in float64 over an integrand evaluated in float32.
    /// </summary>
    private double LmsCoefficient(int order, int t, int currentOrder)
    {
        double a = _sigmas[t], b = _sigmas[t + 1];
        double center = 0.5 * (a + b);
        double halfLength = 0.5 * (b - a);
        double kronrod = s_kronrodWeights[10] * Integrand(center);
        for (int j = 1; j <= 5; j++)
        {
            int node = 2 * j - 1; // QUADPACK's xgk(2j): the Gauss nodes first
            double abscissa = halfLength * s_kronrodNodes[node];
            double sum = Integrand(center - abscissa) + Integrand(center + abscissa);
            kronrod += s_kronrodWeights[node] * sum;
        }
        for (int j = 1; j <= 5; j++)
        {
            int node = 2 * j - 2; // xgk(2j-1): the Kronrod extension nodes
            double abscissa = halfLength * s_kronrodNodes[node];
            double sum = Integrand(center - abscissa) + Integrand(center + abscissa);
            kronrod += s_kronrodWeights[node] * sum;
        }
        return kronrod * halfLength;

        double Integrand(double tau)
        {
            // prod = 1.0; prod *= (tau - σ[t-k]) / (σ[t-j] - σ[t-k]) on 0-d float32 tensors (tau rounded to float32).
            float product = 1f;
            float tau32 = (float)tau;
            for (int k = 0; k < order; k++)
            {
                if (k == currentOrder)
                    continue;
                product *= (tau32 - _sigmas[t - k]) / (_sigmas[t - currentOrder] - _sigmas[t - k]);
            }
            return product;
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
