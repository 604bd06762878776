using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// DPM-Solver / DPM-Solver++ multistep (first, second and third order), mirroring diffusers'
/// <c>scheduling_dpmsolver_multistep.py</c> (<c>DPMSolverMultistepScheduler</c>). With the defaults this is
/// A1111's "DPM++ 2M"; <c>algorithm_type = sde-dpmsolver++</c> is "DPM++ 2M SDE"; add
/// <c>use_karras_sigmas</c> for the "Karras" variants.
/// </summary>
/// <remarks>
/// <para>
/// Supported: <c>solver_order</c> 1/2/3; <c>algorithm_type</c> <c>dpmsolver++</c>, <c>sde-dpmsolver++</c>,
/// <c>dpmsolver</c>, <c>sde-dpmsolver</c> (diffusers has no third-order <c>sde-dpmsolver</c> update and fails
/// there; here that combination is rejected up front); <c>solver_type</c> <c>midpoint</c>/<c>heun</c> (<c>bh1</c>,
/// <c>bh2</c>, <c>logrho</c> are read as <c>midpoint</c>, as diffusers does); <c>lower_order_final</c>,
/// <c>euler_at_final</c>, <c>final_sigmas_type</c>, Karras / exponential / beta / Lu-lambda sigmas,
/// <c>lambda_min_clipped</c>, <c>timestep_spacing</c>, <c>steps_offset</c>, all beta schedules,
/// <c>rescale_betas_zero_snr</c>, prediction types <c>epsilon</c>/<c>v_prediction</c>/<c>sample</c>, dynamic
/// thresholding, and <c>variance_type</c> <c>learned</c>/<c>learned_range</c> (the caller passes only the
/// first half of the channels, which is all diffusers reads).
/// </para>
/// <para>
/// Left out: flow matching (<c>use_flow_sigmas</c>, <c>flow_shift</c>, <c>flow_prediction</c>, dynamic
/// shifting), custom timestep lists, and locating the step by timestep value (the caller passes the step
/// index; image-to-image starts at a later index, like diffusers' <c>set_begin_index</c>).
/// </para>
/// <para>
/// Numerics follow diffusers exactly: the schedule is float32 as torch computes it, the per-step scalars
/// (alpha, sigma, lambda, h) are float32 operations in diffusers' order, and the element-wise updates
/// evaluate the same expression tree in float32. The SDE variants draw one noise tensor per step from
/// the random source, after the model output conversion, as diffusers' <c>randn_tensor</c> call does.
/// </para>
/// </remarks>
public sealed class DpmSolverMultistepScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>DPMSolverMultistepScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "DPMSolverMultistepScheduler",
        NumTrainTimesteps = 1000,
        BetaStart = 0.0001,
        BetaEnd = 0.02,
        BetaSchedule = "linear",
        TrainedBetas = null,
        SolverOrder = 2,
        PredictionType = "epsilon",
        Thresholding = false,
        DynamicThresholdingRatio = 0.995f,
        SampleMaxValue = 1f,
        AlgorithmType = "dpmsolver++",
        SolverType = "midpoint",
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        UseFlowSigmas = false,
        FlowShift = 1.0,
        FinalSigmasType = "zero",
        LambdaMinClipped = float.NegativeInfinity,
        VarianceType = null,
        LowerOrderFinal = true,
        EulerAtFinal = false,
        UseLuLambdas = false,
        TimestepSpacing = "linspace",
        StepsOffset = 0,
        RescaleBetasZeroSnr = false,
    };

    private const int NoiseSlot = 3; // scratch slots 0..2 hold the model-output history
    private const int TempSlot0 = 4; // slots 4..6: temporaries of the vectorised updates
    private const int TempSlot1 = 5;
    private const int TempSlot2 = 6;
    private readonly DpmSolverAlgorithm _algorithm;
    private readonly bool _heun;
    private readonly int _solverOrder;
    private readonly bool _finalSigmaZero;
    private readonly DpmSolverSchedule.SigmaKind _sigmaKind;
    private readonly DpmSolverSchedule _dpmSchedule;
    private float[] _sigmas = [];

    // Converted model outputs of the last solver_order steps live in scratch slots 0..solver_order-1, used as
    // a ring; _newest is the slot of the newest. diffusers keeps the same values in its model_outputs list.
    private int _newest;
    private int _lowerOrderNums;
    private int _nextStepIndex = -1;

    /// <summary>Creates the scheduler from a diffusers configuration; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A configuration value is not supported (named in the message).</exception>
    public DpmSolverMultistepScheduler(SchedulerConfig config)
        : base(config, DiffusersDefaults)
    {
        _algorithm = DpmSolverMath.ParseAlgorithm(Config.AlgorithmType, allowSdeDpmSolver: true);
        _heun = DpmSolverMath.ParseHeun(Config.SolverType);
        if (Config.SolverOrder is < 1 or > 3)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": solver_order", $"{Config.SolverOrder} is not 1, 2 or 3.");
        }

        if (Config.SolverOrder == 3 && _algorithm == DpmSolverAlgorithm.SdeDpmSolver)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": solver_order", "third order is not defined for algorithm_type sde-dpmsolver.");
        }

        _solverOrder = Config.SolverOrder;
        _finalSigmaZero = DpmSolverMath.ParseFinalSigmaZero(Config.FinalSigmasType, _algorithm);
        RequireStandardPredictionType();
        _sigmaKind = DpmSolverSchedule.KindOf(Config, supportsLuLambdas: true);
        _dpmSchedule = new DpmSolverSchedule(Schedule, Config);
    }

    /// <summary>The noise levels σ of each step, plus the final one (diffusers' <c>sigmas</c>, length steps + 1).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <inheritdoc/>
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        float[] timesteps = _dpmSchedule.Compute(inferenceSteps, _sigmaKind, _finalSigmaZero, out _sigmas);
        _lowerOrderNums = 0;
        _nextStepIndex = -1;
        return timesteps;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The first call after <see cref="SchedulerBase.SetTimesteps"/> may start at any index (image-to-image starts
    /// part-way, like diffusers' <c>set_begin_index</c>); later calls must follow one another.
    /// </remarks>
    /// <exception cref="InvalidOperationException">A step index other than the next one after the previous step.</exception>
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        bool stochastic = DpmSolverMath.IsStochastic(_algorithm);
        IRandomSource? source = stochastic ? RequireRandom(random) : null;
        if (_nextStepIndex >= 0 && stepIndex != _nextStepIndex)
        {
            throw new InvalidOperationException(
                $"{nameof(DpmSolverMultistepScheduler)}: step {stepIndex} called after step {_nextStepIndex - 1}; multistep solvers need their steps in order (call SetTimesteps to restart).");
        }

        if (!HasScratch(_solverOrder - 1, sample.Length))
        {
            // First step at this sample size: allocate the whole history now (a size change drops it, and the
            // run starts afresh).
            for (int slot = 0; slot < _solverOrder; slot++)
            {
                Scratch(slot, sample.Length);
            }

            // The update temporaries too: the higher-order updates first use them in later steps.
            Scratch(TempSlot0, sample.Length);
            Scratch(TempSlot1, sample.Length);
            Scratch(TempSlot2, sample.Length);
            _lowerOrderNums = 0;
        }

        int n = Timesteps.Length;
        bool lowerOrderFinal = stepIndex == n - 1
            && (Config.EulerAtFinal || (Config.LowerOrderFinal && n < 15) || _finalSigmaZero);
        bool lowerOrderSecond = stepIndex == n - 2 && Config.LowerOrderFinal && n < 15;

        _newest = (_newest + 1) % _solverOrder;
        Span<float> converted = Scratch(_newest, sample.Length);
        ConvertModelOutput(modelOutput, stepIndex, sample, converted);

        Span<float> noise = default;
        if (source is not null)
        {
            noise = Scratch(NoiseSlot, sample.Length);
            source.NextStandardNormal(noise);
        }

        if (_solverOrder == 1 || _lowerOrderNums < 1 || lowerOrderFinal)
        {
            DpmSolverMath.FirstOrderUpdate(_algorithm, _sigmas[stepIndex + 1], _sigmas[stepIndex], converted, sample, noise, Scratch(TempSlot0, sample.Length));
        }
        else if (_solverOrder == 2 || _lowerOrderNums < 2 || lowerOrderSecond)
        {
            SecondOrderUpdate(stepIndex, sample, noise);
        }
        else
        {
            ThirdOrderUpdate(stepIndex, sample, noise);
        }

        if (_lowerOrderNums < _solverOrder)
        {
            _lowerOrderNums++;
        }

        _nextStepIndex = stepIndex + 1;
    }

    /// <inheritdoc/>
    /// <remarks>diffusers: α_t·x0 + σ_t·ε with α_t = 1/√(σ²+1), σ_t = σ·α_t at the step's sigma.</remarks>
    public override void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        RequireSameLength(originalSample.Length, noise.Length, nameof(noise));
        RequireSameLength(originalSample.Length, destination.Length, nameof(destination));
        DpmSolverMath.AddNoise(originalSample, noise, _sigmas[stepIndex], destination);
    }

    private static (float Alpha, float Sigma) AlphaSigma(float sigma) => DpmSolverMath.AlphaSigma(sigma);

    private static float Lambda(float alpha, float sigma) => DpmSolverMath.Lambda(alpha, sigma);

    // diffusers' convert_model_output: x0 for the ++ algorithms, epsilon for the others; thresholding acts on x0.
    private void ConvertModelOutput(ReadOnlySpan<float> modelOutput, int stepIndex, ReadOnlySpan<float> sample, Span<float> destination)
    {
        (float alphaT, float sigmaT) = AlphaSigma(_sigmas[stepIndex]);
        if (DpmSolverMath.PredictsData(_algorithm))
        {
            DpmSolverMath.ToData(Config.PredictionType, modelOutput, sample, alphaT, sigmaT, destination, Scratch(TempSlot0, sample.Length));
            if (Config.Thresholding)
            {
                ThresholdSample(destination);
            }

            return;
        }

        DpmSolverMath.ToNoise(Config.PredictionType, modelOutput, sample, alphaT, sigmaT, destination, Scratch(TempSlot0, sample.Length));
        if (Config.Thresholding)
        {
            DpmSolverMath.NoiseToData(sample, destination, alphaT, sigmaT, destination);
            ThresholdSample(destination);
            DpmSolverMath.DataToNoise(sample, destination, alphaT, sigmaT, destination);
        }
    }

    private void SecondOrderUpdate(int stepIndex, Span<float> sample, ReadOnlySpan<float> noise)
    {
        (float alphaT, float sigmaT) = AlphaSigma(_sigmas[stepIndex + 1]);
        (float alphaS0, float sigmaS0) = AlphaSigma(_sigmas[stepIndex]);
        (float alphaS1, float sigmaS1) = AlphaSigma(_sigmas[stepIndex - 1]);
        float lambdaT = Lambda(alphaT, sigmaT);
        float lambdaS0 = Lambda(alphaS0, sigmaS0);
        float lambdaS1 = Lambda(alphaS1, sigmaS1);
        float h = lambdaT - lambdaS0;
        float h0 = lambdaS0 - lambdaS1;
        float r0 = h0 / h;
        float inverseR0 = 1f / r0;
        ReadOnlySpan<float> m0 = Scratch(_newest, sample.Length);
        ReadOnlySpan<float> m1 = Scratch(Previous(1), sample.Length);

        // x_t = a*x + b*D0 + c*D1 (+ d*noise), with D1 = (m0 - m1)/r0; the signs are folded into b, c so the
        // rounding matches diffusers' subtractions exactly (negating a float is exact).
        float a, b, c, d = 0f;
        bool subtractB, subtractC;
        switch (_algorithm)
        {
            case DpmSolverAlgorithm.DpmSolverPlusPlus:
                a = sigmaT / sigmaS0;
                b = alphaT * (MathF.Exp(-h) - 1f);
                subtractB = true;
                if (_heun)
                {
                    c = alphaT * (((MathF.Exp(-h) - 1f) / h) + 1f);
                    subtractC = false;
                }
                else
                {
                    c = 0.5f * (alphaT * (MathF.Exp(-h) - 1f));
                    subtractC = true;
                }

                break;
            case DpmSolverAlgorithm.DpmSolver:
                a = alphaT / alphaS0;
                b = sigmaT * (MathF.Exp(h) - 1f);
                subtractB = true;
                c = _heun ? sigmaT * (((MathF.Exp(h) - 1f) / h) - 1f) : 0.5f * (sigmaT * (MathF.Exp(h) - 1f));
                subtractC = true;
                break;
            case DpmSolverAlgorithm.SdeDpmSolverPlusPlus:
                a = sigmaT / sigmaS0 * MathF.Exp(-h);
                b = alphaT * (1f - MathF.Exp(-2f * h));
                subtractB = false;
                c = _heun
                    ? alphaT * (((1f - MathF.Exp(-2f * h)) / (-2f * h)) + 1f)
                    : 0.5f * (alphaT * (1f - MathF.Exp(-2f * h)));
                subtractC = false;
                d = sigmaT * MathF.Sqrt(1f - MathF.Exp(-2f * h));
                break;
            default:
                a = alphaT / alphaS0;
                b = 2f * (sigmaT * (MathF.Exp(h) - 1f));
                subtractB = true;
                c = _heun ? 2f * (sigmaT * (((MathF.Exp(h) - 1f) / h) - 1f)) : sigmaT * (MathF.Exp(h) - 1f);
                subtractC = true;
                d = sigmaT * MathF.Sqrt(MathF.Exp(2f * h) - 1f);
                break;
        }

        float signedB = subtractB ? -b : b;
        float signedC = subtractC ? -c : c;
        bool stochastic = DpmSolverMath.IsStochastic(_algorithm);

        // Element-wise, one float32 rounding per scalar operation in this order (no fused multiply-add):
        // D1 = r0⁻¹·(m0 − m1); x = ((a·x + b'·m0) + c'·D1) (+ d·noise).
        Span<float> d1 = Scratch(TempSlot0, sample.Length);
        Span<float> term = Scratch(TempSlot1, sample.Length);
        TensorPrimitives.Subtract(m0, m1, d1);
        TensorPrimitives.Multiply(d1, inverseR0, d1);
        TensorPrimitives.Multiply(sample, a, sample);
        TensorPrimitives.Multiply(m0, signedB, term);
        TensorPrimitives.Add(sample, term, sample);
        TensorPrimitives.Multiply(d1, signedC, d1);
        TensorPrimitives.Add(sample, d1, sample);
        if (stochastic)
        {
            TensorPrimitives.Multiply(noise, d, term);
            TensorPrimitives.Add(sample, term, sample);
        }
    }

    private void ThirdOrderUpdate(int stepIndex, Span<float> sample, ReadOnlySpan<float> noise)
    {
        (float alphaT, float sigmaT) = AlphaSigma(_sigmas[stepIndex + 1]);
        (float alphaS0, float sigmaS0) = AlphaSigma(_sigmas[stepIndex]);
        (float alphaS1, float sigmaS1) = AlphaSigma(_sigmas[stepIndex - 1]);
        (float alphaS2, float sigmaS2) = AlphaSigma(_sigmas[stepIndex - 2]);
        float lambdaT = Lambda(alphaT, sigmaT);
        float lambdaS0 = Lambda(alphaS0, sigmaS0);
        float lambdaS1 = Lambda(alphaS1, sigmaS1);
        float lambdaS2 = Lambda(alphaS2, sigmaS2);
        float h = lambdaT - lambdaS0;
        float h0 = lambdaS0 - lambdaS1;
        float h1 = lambdaS1 - lambdaS2;
        float r0 = h0 / h;
        float r1 = h1 / h;
        float inverseR0 = 1f / r0;
        float inverseR1 = 1f / r1;
        float d1Weight = r0 / (r0 + r1);
        float d2Weight = 1f / (r0 + r1);
        ReadOnlySpan<float> m0 = Scratch(_newest, sample.Length);
        ReadOnlySpan<float> m1 = Scratch(Previous(1), sample.Length);
        ReadOnlySpan<float> m2 = Scratch(Previous(2), sample.Length);

        float a, b, c, e, d = 0f;
        switch (_algorithm)
        {
            case DpmSolverAlgorithm.DpmSolverPlusPlus:
                // x = a*x - b*D0 + c*D1 - e*D2
                a = sigmaT / sigmaS0;
                b = -(alphaT * (MathF.Exp(-h) - 1f));
                c = alphaT * (((MathF.Exp(-h) - 1f) / h) + 1f);
                e = -(alphaT * ((((MathF.Exp(-h) - 1f) + h) / (h * h)) - 0.5f));
                break;
            case DpmSolverAlgorithm.DpmSolver:
                // x = a*x - b*D0 - c*D1 - e*D2
                a = alphaT / alphaS0;
                b = -(sigmaT * (MathF.Exp(h) - 1f));
                c = -(sigmaT * (((MathF.Exp(h) - 1f) / h) - 1f));
                e = -(sigmaT * ((((MathF.Exp(h) - 1f) - h) / (h * h)) - 0.5f));
                break;
            default:
                // sde-dpmsolver++: x = a*x + b*D0 + c*D1 + e*D2 + d*noise
                a = sigmaT / sigmaS0 * MathF.Exp(-h);
                b = alphaT * (1f - MathF.Exp(-2f * h));
                c = alphaT * (((1f - MathF.Exp(-2f * h)) / (-2f * h)) + 1f);
                e = alphaT * ((((1f - MathF.Exp(-2f * h)) - (2f * h)) / ((2f * h) * (2f * h))) - 0.5f);
                d = sigmaT * MathF.Sqrt(1f - MathF.Exp(-2f * h));
                break;
        }

        bool stochastic = _algorithm == DpmSolverAlgorithm.SdeDpmSolverPlusPlus;

        // Element-wise, one float32 rounding per scalar operation in this order (no fused multiply-add):
        // D1_0 = r0⁻¹·(m0 − m1), D1_1 = r1⁻¹·(m1 − m2), Δ = D1_0 − D1_1, D1 = D1_0 + w1·Δ, D2 = w2·Δ,
        // x = (((a·x + b·m0) + c·D1) + e·D2) (+ d·noise).
        Span<float> d1 = Scratch(TempSlot0, sample.Length);
        Span<float> term = Scratch(TempSlot1, sample.Length);
        Span<float> d2 = Scratch(TempSlot2, sample.Length);
        TensorPrimitives.Subtract(m0, m1, d1);
        TensorPrimitives.Multiply(d1, inverseR0, d1);
        TensorPrimitives.Subtract(m1, m2, term);
        TensorPrimitives.Multiply(term, inverseR1, term);
        TensorPrimitives.Subtract(d1, term, d2);
        TensorPrimitives.Multiply(d2, d1Weight, term);
        TensorPrimitives.Add(d1, term, d1);
        TensorPrimitives.Multiply(d2, d2Weight, d2);
        TensorPrimitives.Multiply(sample, a, sample);
        TensorPrimitives.Multiply(m0, b, term);
        TensorPrimitives.Add(sample, term, sample);
        TensorPrimitives.Multiply(d1, c, d1);
        TensorPrimitives.Add(sample, d1, sample);
        TensorPrimitives.Multiply(d2, e, d2);
        TensorPrimitives.Add(sample, d2, sample);
        if (stochastic)
        {
            TensorPrimitives.Multiply(noise, d, term);
            TensorPrimitives.Add(sample, term, sample);
        }
    }

    private int Previous(int back) => (_newest - back + _solverOrder) % _solverOrder;
}
