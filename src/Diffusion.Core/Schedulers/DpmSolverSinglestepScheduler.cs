using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// DPM-Solver / DPM-Solver++ single-step (first, second and third order), mirroring diffusers'
/// <c>scheduling_dpmsolver_singlestep.py</c> (<c>DPMSolverSinglestepScheduler</c>): steps are grouped by the
/// order list (e.g. 1,2,1,2,… for order 2) and each group restarts from the sample saved at its first step.
/// A1111's "DPM++ 2S a" is close to <c>algorithm_type = sde-dpmsolver++</c> here but not the same sampler.
/// </summary>
/// <remarks>
/// <para>
/// Supported: <c>solver_order</c> 1/2/3, <c>algorithm_type</c> <c>dpmsolver++</c>, <c>sde-dpmsolver++</c>,
/// <c>dpmsolver</c>; <c>solver_type</c> midpoint/heun; <c>lower_order_final</c> (forced on, and kept on, when
/// the step count is not a multiple of the order or the final sigma is zero, as diffusers does);
/// <c>final_sigmas_type</c>; Karras/exponential/beta sigmas; <c>lambda_min_clipped</c>; prediction types
/// epsilon/v_prediction/sample; dynamic thresholding for the ++ algorithms.
/// </para>
/// <para>
/// Like diffusers' class this one has no <c>timestep_spacing</c>, <c>steps_offset</c> or
/// <c>rescale_betas_zero_snr</c>: timesteps are always linspace over the (clipped) training range and the
/// zero-SNR flag of a shared config is ignored. Left out: flow matching, custom timesteps, thresholding with
/// <c>algorithm_type = dpmsolver</c> (diffusers indexes its schedule with a missing timestep there; rejected),
/// and locating the step by timestep value.
/// </para>
/// </remarks>
public sealed class DpmSolverSinglestepScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>DPMSolverSinglestepScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "DPMSolverSinglestepScheduler",
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
        LowerOrderFinal = false,
    };

    private const int SavedSampleSlot = 3; // slots 0..2 hold the model-output history
    private const int NoiseSlot = 4;
    private const int TempSlot0 = 5; // slots 5..7: temporaries of the vectorised updates
    private const int TempSlot1 = 6;
    private const int TempSlot2 = 7;

    private readonly DpmSolverAlgorithm _algorithm;
    private readonly bool _heun;
    private readonly int _solverOrder;
    private readonly bool _finalSigmaZero;
    private readonly DpmSolverSchedule.SigmaKind _sigmaKind;
    private readonly DpmSolverSchedule _dpmSchedule;
    private bool _lowerOrderFinal;
    private float[] _sigmas = [];
    private int[] _orders = [];
    private int _newest;
    private int _historyCount;
    private int _nextStepIndex = -1;

    /// <summary>Creates the scheduler from a diffusers configuration; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A configuration value is not supported (named in the message).</exception>
    public DpmSolverSinglestepScheduler(SchedulerConfig config)
        : base(WithoutUnsupportedFields(config))
    {
        _algorithm = DpmSolverMath.ParseAlgorithm(Config.AlgorithmType, allowSdeDpmSolver: false);
        _heun = DpmSolverMath.ParseHeun(Config.SolverType);
        if (Config.SolverOrder is < 1 or > 3)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": solver_order", $"{Config.SolverOrder} is not 1, 2 or 3.");
        }

        _solverOrder = Config.SolverOrder;
        _finalSigmaZero = DpmSolverMath.ParseFinalSigmaZero(Config.FinalSigmasType, _algorithm);
        RequireStandardPredictionType();
        if (Config.Thresholding && _algorithm == DpmSolverAlgorithm.DpmSolver)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": thresholding",
                "is not supported with algorithm_type dpmsolver in DPMSolverSinglestepScheduler.");
        }

        _sigmaKind = DpmSolverSchedule.KindOf(Config, supportsLuLambdas: false);
        _dpmSchedule = new DpmSolverSchedule(Schedule, Config);
        _lowerOrderFinal = Config.LowerOrderFinal;
    }

    /// <summary>The noise levels σ of each step, plus the final one (diffusers' <c>sigmas</c>, length steps + 1).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <summary>The solver order used at each step (diffusers' <c>order_list</c>), valid after <see cref="SchedulerBase.SetTimesteps"/>.</summary>
    public ReadOnlySpan<int> OrderList => _orders;

    private static SchedulerConfig WithoutUnsupportedFields(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.WithDefaultsFrom(DiffusersDefaults) with { TimestepSpacing = "linspace", StepsOffset = 0, RescaleBetasZeroSnr = false };
    }

    /// <inheritdoc/>
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        float[] timesteps = _dpmSchedule.Compute(inferenceSteps, _sigmaKind, _finalSigmaZero, out _sigmas, alwaysRoundKarras: true);

        // diffusers switches lower_order_final on for good (register_to_config) in these two cases.
        if ((!_lowerOrderFinal && inferenceSteps % _solverOrder != 0) || (!_lowerOrderFinal && _finalSigmaZero))
        {
            _lowerOrderFinal = true;
        }

        _orders = DpmSolverOrderList.Build(inferenceSteps, _solverOrder, _lowerOrderFinal, _finalSigmaZero);
        _historyCount = 0;
        _nextStepIndex = -1;
        return timesteps;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The first call after <see cref="SchedulerBase.SetTimesteps"/> may start at any index (image-to-image); later
    /// calls must follow one another.
    /// </remarks>
    /// <exception cref="InvalidOperationException">A step index other than the next one after the previous step.</exception>
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        IRandomSource? source = DpmSolverMath.IsStochastic(_algorithm) ? RequireRandom(random) : null;
        if (_nextStepIndex >= 0 && stepIndex != _nextStepIndex)
        {
            throw new InvalidOperationException(
                $"{nameof(DpmSolverSinglestepScheduler)}: step {stepIndex} called after step {_nextStepIndex - 1}; steps must come in order (call SetTimesteps to restart).");
        }

        if (!HasScratch(SavedSampleSlot, sample.Length))
        {
            for (int slot = 0; slot < _solverOrder; slot++)
            {
                Scratch(slot, sample.Length);
            }

            Scratch(SavedSampleSlot, sample.Length);

            // The update temporaries too: the higher-order updates first use them in later steps.
            Scratch(TempSlot0, sample.Length);
            Scratch(TempSlot1, sample.Length);
            Scratch(TempSlot2, sample.Length);
            _historyCount = 0;
        }

        // Model-output conversion (x0 for the ++ algorithms, epsilon for dpmsolver) into the history ring.
        _newest = (_newest + 1) % _solverOrder;
        Span<float> converted = Scratch(_newest, sample.Length);
        (float alphaT, float sigmaT) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex]);
        if (DpmSolverMath.PredictsData(_algorithm))
        {
            DpmSolverMath.ToData(Config.PredictionType, modelOutput, sample, alphaT, sigmaT, converted, Scratch(TempSlot0, sample.Length));
            if (Config.Thresholding)
            {
                ThresholdSample(converted);
            }
        }
        else
        {
            DpmSolverMath.ToNoise(Config.PredictionType, modelOutput, sample, alphaT, sigmaT, converted, Scratch(TempSlot0, sample.Length));
        }

        _historyCount = Math.Min(_historyCount + 1, _solverOrder);

        Span<float> noise = default;
        if (source is not null)
        {
            noise = Scratch(NoiseSlot, sample.Length);
            source.NextStandardNormal(noise);
        }

        // diffusers lowers the order while the history has no entry that far back.
        int order = stepIndex < _orders.Length ? _orders[stepIndex] : 1;
        while (order > _historyCount)
        {
            order--;
        }

        Span<float> saved = Scratch(SavedSampleSlot, sample.Length);
        if (order == 1)
        {
            sample.CopyTo(saved);
        }

        // The update starts from the sample saved at the group's first step and overwrites the current one.
        saved.CopyTo(sample);
        switch (order)
        {
            case 1:
                DpmSolverMath.FirstOrderUpdate(_algorithm, _sigmas[stepIndex + 1], _sigmas[stepIndex], converted, sample, noise, Scratch(TempSlot0, sample.Length));
                break;
            case 2:
                SecondOrderUpdate(stepIndex, sample, noise);
                break;
            default:
                ThirdOrderUpdate(stepIndex, sample, noise);
                break;
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

    // diffusers' singlestep_dpm_solver_second_order_update: from σ_{s1} (the group start) over two model outputs.
    private void SecondOrderUpdate(int stepIndex, Span<float> sample, ReadOnlySpan<float> noise)
    {
        (float alphaT, float sigmaT) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex + 1]);
        (float alphaS0, float sigmaS0) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex]);
        (float alphaS1, float sigmaS1) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex - 1]);
        float lambdaT = DpmSolverMath.Lambda(alphaT, sigmaT);
        float lambdaS0 = DpmSolverMath.Lambda(alphaS0, sigmaS0);
        float lambdaS1 = DpmSolverMath.Lambda(alphaS1, sigmaS1);
        float h = lambdaT - lambdaS1;
        float h0 = lambdaS0 - lambdaS1;
        float r0 = h0 / h;
        float inverseR0 = 1f / r0;
        ReadOnlySpan<float> m0 = Scratch(_newest, sample.Length);
        ReadOnlySpan<float> m1 = Scratch(Previous(1), sample.Length);

        // x = a*x + b*D0 + c*D1 (+ d*noise), D0 = m1, D1 = (m0 - m1)/r0; subtracted terms carry their sign in b, c.
        float a, b, c, d = 0f;
        switch (_algorithm)
        {
            case DpmSolverAlgorithm.DpmSolverPlusPlus:
                a = sigmaT / sigmaS1;
                b = -(alphaT * (MathF.Exp(-h) - 1f));
                c = _heun ? alphaT * (((MathF.Exp(-h) - 1f) / h) + 1f) : -(0.5f * (alphaT * (MathF.Exp(-h) - 1f)));
                break;
            case DpmSolverAlgorithm.DpmSolver:
                a = alphaT / alphaS1;
                b = -(sigmaT * (MathF.Exp(h) - 1f));
                c = _heun ? -(sigmaT * (((MathF.Exp(h) - 1f) / h) - 1f)) : -(0.5f * (sigmaT * (MathF.Exp(h) - 1f)));
                break;
            default:
                a = sigmaT / sigmaS1 * MathF.Exp(-h);
                b = alphaT * (1f - MathF.Exp(-2f * h));
                c = _heun ? alphaT * (((1f - MathF.Exp(-2f * h)) / (-2f * h)) + 1f) : 0.5f * (alphaT * (1f - MathF.Exp(-2f * h)));
                d = sigmaT * MathF.Sqrt(1f - MathF.Exp(-2f * h));
                break;
        }

        bool stochastic = _algorithm == DpmSolverAlgorithm.SdeDpmSolverPlusPlus;

        // Element-wise, one float32 rounding per scalar operation in this order (no fused multiply-add):
        // D1 = r0⁻¹·(m0 − m1); x = ((a·x + b·m1) + c·D1) (+ d·noise).
        Span<float> d1 = Scratch(TempSlot0, sample.Length);
        Span<float> term = Scratch(TempSlot1, sample.Length);
        TensorPrimitives.Subtract(m0, m1, d1);
        TensorPrimitives.Multiply(d1, inverseR0, d1);
        TensorPrimitives.Multiply(sample, a, sample);
        TensorPrimitives.Multiply(m1, b, term);
        TensorPrimitives.Add(sample, term, sample);
        TensorPrimitives.Multiply(d1, c, d1);
        TensorPrimitives.Add(sample, d1, sample);
        if (stochastic)
        {
            TensorPrimitives.Multiply(noise, d, term);
            TensorPrimitives.Add(sample, term, sample);
        }
    }

    // diffusers' singlestep_dpm_solver_third_order_update: from σ_{s2} over three model outputs.
    private void ThirdOrderUpdate(int stepIndex, Span<float> sample, ReadOnlySpan<float> noise)
    {
        (float alphaT, float sigmaT) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex + 1]);
        (float alphaS0, float sigmaS0) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex]);
        (float alphaS1, float sigmaS1) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex - 1]);
        (float alphaS2, float sigmaS2) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex - 2]);
        float lambdaT = DpmSolverMath.Lambda(alphaT, sigmaT);
        float lambdaS0 = DpmSolverMath.Lambda(alphaS0, sigmaS0);
        float lambdaS1 = DpmSolverMath.Lambda(alphaS1, sigmaS1);
        float lambdaS2 = DpmSolverMath.Lambda(alphaS2, sigmaS2);
        float h = lambdaT - lambdaS2;
        float h0 = lambdaS0 - lambdaS2;
        float h1 = lambdaS1 - lambdaS2;
        float r0 = h0 / h;
        float r1 = h1 / h;
        float inverseR0 = 1f / r0;
        float inverseR1 = 1f / r1;
        float rDifference = r0 - r1;
        ReadOnlySpan<float> m0 = Scratch(_newest, sample.Length);
        ReadOnlySpan<float> m1 = Scratch(Previous(1), sample.Length);
        ReadOnlySpan<float> m2 = Scratch(Previous(2), sample.Length);

        // x = a*x + b*D0 + c*(D1 or D1_1) + e*D2 (+ d*noise); midpoint uses D1_1 and no D2.
        float a, b, c, e = 0f, d = 0f;
        switch (_algorithm)
        {
            case DpmSolverAlgorithm.DpmSolverPlusPlus:
                a = sigmaT / sigmaS2;
                b = -(alphaT * (MathF.Exp(-h) - 1f));
                c = alphaT * (((MathF.Exp(-h) - 1f) / h) + 1f);
                if (_heun)
                {
                    e = -(alphaT * ((((MathF.Exp(-h) - 1f) + h) / (h * h)) - 0.5f));
                }

                break;
            case DpmSolverAlgorithm.DpmSolver:
                a = alphaT / alphaS2;
                b = -(sigmaT * (MathF.Exp(h) - 1f));
                c = -(sigmaT * (((MathF.Exp(h) - 1f) / h) - 1f));
                if (_heun)
                {
                    e = -(sigmaT * ((((MathF.Exp(h) - 1f) - h) / (h * h)) - 0.5f));
                }

                break;
            default:
                a = sigmaT / sigmaS2 * MathF.Exp(-h);
                b = alphaT * (1f - MathF.Exp(-2f * h));
                c = alphaT * (((1f - MathF.Exp(-2f * h)) / (-2f * h)) + 1f);
                if (_heun)
                {
                    float minusTwoH = -2f * h;
                    e = alphaT * ((((1f - MathF.Exp(-2f * h)) + minusTwoH) / (minusTwoH * minusTwoH)) - 0.5f);
                }

                d = sigmaT * MathF.Sqrt(1f - MathF.Exp(-2f * h));
                break;
        }

        bool stochastic = _algorithm == DpmSolverAlgorithm.SdeDpmSolverPlusPlus;

        // Element-wise, one float32 rounding per scalar operation in this order (no fused multiply-add):
        // D1_0 = r1⁻¹·(m1 − m2), D1_1 = r0⁻¹·(m0 − m2), x = a·x + b·m2, then heun: D1 = (r0·D1_0 − r1·D1_1)/(r0 − r1),
        // D2 = 2·(D1_1 − D1_0)/(r0 − r1), x = (x + c·D1) + e·D2; midpoint: x += c·D1_1; SDE: x += d·noise.
        Span<float> d10 = Scratch(TempSlot0, sample.Length);
        Span<float> d11 = Scratch(TempSlot1, sample.Length);
        Span<float> term = Scratch(TempSlot2, sample.Length);
        TensorPrimitives.Subtract(m1, m2, d10);
        TensorPrimitives.Multiply(d10, inverseR1, d10);
        TensorPrimitives.Subtract(m0, m2, d11);
        TensorPrimitives.Multiply(d11, inverseR0, d11);
        TensorPrimitives.Multiply(sample, a, sample);
        TensorPrimitives.Multiply(m2, b, term);
        TensorPrimitives.Add(sample, term, sample);
        if (_heun)
        {
            Span<float> d2 = term;
            TensorPrimitives.Subtract(d11, d10, d2);
            TensorPrimitives.Multiply(d2, 2f, d2);
            TensorPrimitives.Divide(d2, rDifference, d2);
            Span<float> d1 = d10;
            TensorPrimitives.Multiply(d10, r0, d10);
            TensorPrimitives.Multiply(d11, r1, d11);
            TensorPrimitives.Subtract(d10, d11, d1);
            TensorPrimitives.Divide(d1, rDifference, d1);
            TensorPrimitives.Multiply(d1, c, d1);
            TensorPrimitives.Add(sample, d1, sample);
            TensorPrimitives.Multiply(d2, e, d2);
            TensorPrimitives.Add(sample, d2, sample);
        }
        else
        {
            TensorPrimitives.Multiply(d11, c, d11);
            TensorPrimitives.Add(sample, d11, sample);
        }

        if (stochastic)
        {
            TensorPrimitives.Multiply(noise, d, term);
            TensorPrimitives.Add(sample, term, sample);
        }
    }

    private int Previous(int back) => (_newest - back + _solverOrder) % _solverOrder;
}
