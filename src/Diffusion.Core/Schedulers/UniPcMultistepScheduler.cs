using System.Numerics;
using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// UniPC (unified predictor-corrector, arXiv 2302.04867) multistep sampler, mirroring diffusers'
/// <c>scheduling_unipc_multistep.py</c> (<c>UniPCMultistepScheduler</c>); A1111's and ComfyUI's "UniPC".
/// Each step first corrects the sample it is given with the new model output (UniC), then predicts the next
/// sample (UniP).
/// </summary>
/// <remarks>
/// <para>
/// Supported: <c>solver_order</c> 1-3, <c>solver_type</c> <c>bh1</c>/<c>bh2</c> (<c>midpoint</c>, <c>heun</c>,
/// <c>logrho</c> read as <c>bh2</c>, as diffusers does), <c>predict_x0</c>, <c>lower_order_final</c>,
/// <c>disable_corrector</c>, <c>final_sigmas_type</c>, Karras/exponential/beta sigmas (bounded by
/// <c>sigma_min</c>/<c>sigma_max</c> when set), <c>timestep_spacing</c>, <c>steps_offset</c>, all beta
/// schedules, <c>rescale_betas_zero_snr</c>, prediction types epsilon/v_prediction/sample, dynamic thresholding.
/// </para>
/// <para>
/// Left out: <c>solver_p</c> (an external predictor scheduler), flow matching (<c>use_flow_sigmas</c>,
/// dynamic shifting, <c>shift_terminal</c>), custom sigmas, and locating the step by timestep value. The small
/// linear systems diffusers hands to <c>torch.linalg.solve</c> are solved here by float32 Gaussian elimination
/// with partial pivoting (LAPACK's <c>getrf</c>/<c>getrs</c> order), which can differ from the BLAS build in the
/// last bit of the coefficients.
/// </para>
/// </remarks>
public sealed class UniPcMultistepScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>UniPCMultistepScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "UniPCMultistepScheduler",
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
        PredictX0 = true,
        SolverType = "bh2",
        LowerOrderFinal = true,
        DisableCorrector = [],
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        UseFlowSigmas = false,
        FlowShift = 1.0,
        TimestepSpacing = "linspace",
        StepsOffset = 0,
        FinalSigmasType = "zero",
        RescaleBetasZeroSnr = false,
        SigmaMin = null,
        SigmaMax = null,
    };

    private const int MaxOrder = 3;
    private const int LastSampleSlot = MaxOrder + 1; // slots 0..order hold the converted model-output ring
    private const int ConversionTempSlot = LastSampleSlot + 1; // temporary of the vectorised v_prediction conversion

    // One slot more than the history needs, so this step's output never overwrites an entry the corrector still reads.
    private readonly int _ringSize;

    private readonly int _solverOrder;
    private readonly bool _bh2;
    private readonly bool _predictX0;
    private readonly bool _finalSigmaZero;
    private readonly DpmSolverSchedule.SigmaKind _sigmaKind;
    private readonly DpmSolverSchedule _dpmSchedule;
    private float[] _sigmas = [];
    private int _newest;
    private int _lowerOrderNums;
    private int _thisOrder;
    private bool _hasLastSample;
    private int _nextStepIndex = -1;

    // Per-step coefficient scratch (no allocation per step).
    private readonly float[] _rks = new float[MaxOrder];
    private readonly float[] _b = new float[MaxOrder];
    private readonly float[] _rhos = new float[MaxOrder];
    private readonly float[] _matrix = new float[MaxOrder * MaxOrder];

    /// <summary>Creates the scheduler from a diffusers configuration; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A configuration value is not supported (named in the message).</exception>
    public UniPcMultistepScheduler(SchedulerConfig config)
        : base(WithoutUnsupportedFields(config))
    {
        if (Config.SolverOrder is < 1 or > MaxOrder)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": solver_order", $"{Config.SolverOrder} is not 1, 2 or 3.");
        }

        _solverOrder = Config.SolverOrder;
        _ringSize = _solverOrder + 1;
        _bh2 = Config.SolverType switch
        {
            "bh1" => false,
            "bh2" or "midpoint" or "heun" or "logrho" => true,
            _ => throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": solver_type", $"'{Config.SolverType}' is not supported; expected bh1 or bh2."),
        };
        _predictX0 = Config.PredictX0;
        _finalSigmaZero = (Config.FinalSigmasType ?? "zero") switch
        {
            "zero" => true,
            "sigma_min" => false,
            _ => throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": final_sigmas_type", $"'{Config.FinalSigmasType}' is not supported; expected zero or sigma_min."),
        };
        RequireStandardPredictionType();
        _sigmaKind = DpmSolverSchedule.KindOf(Config, supportsLuLambdas: false);
        _dpmSchedule = new DpmSolverSchedule(Schedule, Config);
    }

    /// <summary>The noise levels σ of each step, plus the final one (diffusers' <c>sigmas</c>, length steps + 1).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    private static SchedulerConfig WithoutUnsupportedFields(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.WithDefaultsFrom(DiffusersDefaults) with { LambdaMinClipped = float.NegativeInfinity };
    }

    /// <inheritdoc/>
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        float[] timesteps = _dpmSchedule.Compute(inferenceSteps, _sigmaKind, _finalSigmaZero, out _sigmas, uniPcConventions: true);
        _lowerOrderNums = 0;
        _hasLastSample = false;
        _nextStepIndex = -1;
        return timesteps;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The first call after <see cref="SchedulerBase.SetTimesteps"/> may start at any index (image-to-image); later
    /// calls must follow one another. UniPC is deterministic and ignores <paramref name="random"/>.
    /// </remarks>
    /// <exception cref="InvalidOperationException">A step index other than the next one after the previous step.</exception>
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        if (_nextStepIndex >= 0 && stepIndex != _nextStepIndex)
        {
            throw new InvalidOperationException(
                $"{nameof(UniPcMultistepScheduler)}: step {stepIndex} called after step {_nextStepIndex - 1}; multistep solvers need their steps in order (call SetTimesteps to restart).");
        }

        if (!HasScratch(LastSampleSlot, sample.Length))
        {
            for (int slot = 0; slot < _ringSize; slot++)
            {
                Scratch(slot, sample.Length);
            }

            Scratch(LastSampleSlot, sample.Length);

            _lowerOrderNums = 0;
            _hasLastSample = false;
        }

        bool useCorrector = stepIndex > 0 && !IsCorrectorDisabled(stepIndex - 1) && _hasLastSample;

        // The converted output goes into the slot after the newest; the corrector still reads the old newest as m0.
        int slotForThis = (_newest + 1) % _ringSize;
        Span<float> converted = Scratch(slotForThis, sample.Length);
        ConvertModelOutput(modelOutput, stepIndex, sample, converted);
        Span<float> lastSample = Scratch(LastSampleSlot, sample.Length);
        if (useCorrector)
        {
            Correct(converted, lastSample, sample, stepIndex, _thisOrder);
        }

        _newest = slotForThis;
        int thisOrder = Config.LowerOrderFinal ? Math.Min(_solverOrder, Timesteps.Length - stepIndex) : _solverOrder;
        _thisOrder = Math.Min(thisOrder, _lowerOrderNums + 1);
        sample.CopyTo(lastSample);
        _hasLastSample = true;
        Predict(sample, stepIndex, _thisOrder);
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

    private bool IsCorrectorDisabled(int stepIndex)
    {
        IReadOnlyList<int> disabled = Config.DisableCorrector;
        for (int i = 0; i < disabled.Count; i++)
        {
            if (disabled[i] == stepIndex)
            {
                return true;
            }
        }

        return false;
    }

    private void ConvertModelOutput(ReadOnlySpan<float> modelOutput, int stepIndex, ReadOnlySpan<float> sample, Span<float> destination)
    {
        (float alphaT, float sigmaT) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex]);
        if (_predictX0)
        {
            DpmSolverMath.ToData(Config.PredictionType, modelOutput, sample, alphaT, sigmaT, destination, Scratch(ConversionTempSlot, sample.Length));
            if (Config.Thresholding)
            {
                ThresholdSample(destination);
            }
        }
        else
        {
            DpmSolverMath.ToNoise(Config.PredictionType, modelOutput, sample, alphaT, sigmaT, destination, Scratch(ConversionTempSlot, sample.Length));
        }
    }

    private int HistorySlot(int back) => (_newest - back + _ringSize) % _ringSize;

    private static float Expm1(float x)
    {
        // torch.expm1 in float32; double exp(x) - 1 is accurate to ~1e-16 absolute, ample once rounded for |x| > 1e-6.
        double d = x;
        return Math.Abs(d) < 1e-6 ? (float)(d + (0.5 * d * d)) : (float)(Math.Exp(d) - 1.0);
    }

    /// <summary>
    /// The shared UniPC coefficients: h, hh = ∓h, h·φ₁ = expm1(hh), B(h), the ratios r_k (with 1 appended) and b.
    /// <paramref name="order"/> b values are written; <see cref="_rks"/> holds order values.
    /// </summary>
    private (float HPhi1, float BH) Coefficients(int order, float h, int firstHistoryStep, int stepOffset, float lambdaS0)
    {
        for (int i = 1; i < order; i++)
        {
            int si = firstHistoryStep - (i + stepOffset);
            (float alphaSi, float sigmaSi) = DpmSolverMath.AlphaSigma(_sigmas[si]);
            float lambdaSi = DpmSolverMath.Lambda(alphaSi, sigmaSi);
            _rks[i - 1] = (lambdaSi - lambdaS0) / h;
        }

        _rks[order - 1] = 1f;
        float hh = _predictX0 ? -h : h;
        float hPhi1 = Expm1(hh);
        float hPhiK = (hPhi1 / hh) - 1f;
        float bH = _bh2 ? Expm1(hh) : hh;
        int factorial = 1;
        for (int i = 1; i <= order; i++)
        {
            _b[i - 1] = hPhiK * factorial / bH;
            factorial *= i + 1;
            hPhiK = (hPhiK / hh) - (float)(1.0 / factorial);
        }

        return (hPhi1, bH);
    }

    // diffusers' multistep_uni_p_bh_update (without solver_p): sample -> next sample, in place.
    private void Predict(Span<float> sample, int stepIndex, int order)
    {
        (float alphaT, float sigmaT) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex + 1]);
        (float alphaS0, float sigmaS0) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex]);
        float lambdaT = DpmSolverMath.Lambda(alphaT, sigmaT);
        float lambdaS0 = DpmSolverMath.Lambda(alphaS0, sigmaS0);
        float h = lambdaT - lambdaS0;
        (float hPhi1, float bH) = Coefficients(order, h, stepIndex, 0, lambdaS0);

        // rhos_p: none for order 1, 0.5 for order 2, else solve(R[:-1, :-1], b[:-1]).
        int k = order - 1;
        if (order == 2)
        {
            _rhos[0] = 0.5f;
        }
        else if (order == 3)
        {
            VandermondeSolver.Solve(_rks, _b, _matrix, _rhos, k);
        }

        float a = _predictX0 ? sigmaT / sigmaS0 : alphaT / alphaS0;
        float c = (_predictX0 ? alphaT : sigmaT) * hPhi1;
        float residualScale = (_predictX0 ? alphaT : sigmaT) * bH;
        ReadOnlySpan<float> m0 = Scratch(_newest, sample.Length);
        ReadOnlySpan<float> m1 = k >= 1 ? Scratch(HistorySlot(1), sample.Length) : default;
        ReadOnlySpan<float> m2 = k >= 2 ? Scratch(HistorySlot(2), sample.Length) : default;
        float rk0 = _rks[0], rk1 = _rks[1], rho0 = _rhos[0], rho1 = _rhos[1];

        // x = (a·x − c·m0) − scale·(ρ0·((m1 − m0)/r0) [+ ρ1·((m2 − m0)/r1)]), in place.
        var update = new UniPcUpdate(a, c, residualScale, rk0, rho0, rk1, rho1, 0f, k, HasLast: false);
        update.Apply(sample, m0, m1, m2, default, sample);
    }

    // diffusers' multistep_uni_c_bh_update: corrects `sample` (x_t, predicted at the previous step from
    // lastSample) with this step's converted model output, in place.
    private void Correct(ReadOnlySpan<float> modelT, ReadOnlySpan<float> lastSample, Span<float> sample, int stepIndex, int order)
    {
        (float alphaT, float sigmaT) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex]);
        (float alphaS0, float sigmaS0) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex - 1]);
        float lambdaT = DpmSolverMath.Lambda(alphaT, sigmaT);
        float lambdaS0 = DpmSolverMath.Lambda(alphaS0, sigmaS0);
        float h = lambdaT - lambdaS0;
        (float hPhi1, float bH) = Coefficients(order, h, stepIndex, 1, lambdaS0);

        // rhos_c: 0.5 for order 1, else solve(R, b).
        if (order == 1)
        {
            _rhos[0] = 0.5f;
        }
        else
        {
            VandermondeSolver.Solve(_rks, _b, _matrix, _rhos, order);
        }

        int k = order - 1;
        float a = _predictX0 ? sigmaT / sigmaS0 : alphaT / alphaS0;
        float c = (_predictX0 ? alphaT : sigmaT) * hPhi1;
        float residualScale = (_predictX0 ? alphaT : sigmaT) * bH;
        float rhoLast = _rhos[order - 1];

        // The history before this step's output: m0 is the newest (previous step's) output.
        ReadOnlySpan<float> m0 = Scratch(_newest, sample.Length);
        ReadOnlySpan<float> m1 = k >= 1 ? Scratch(HistorySlot(1), sample.Length) : default;
        ReadOnlySpan<float> m2 = k >= 2 ? Scratch(HistorySlot(2), sample.Length) : default;
        float rk0 = _rks[0], rk1 = _rks[1], rho0 = _rhos[0], rho1 = _rhos[1];

        // x = (a·x_last − c·m0) − scale·([ρ0·((m1 − m0)/r0) [+ ρ1·((m2 − m0)/r1)] +] ρ_last·(m_t − m0)); the old
        // sample is not read, so it receives x.
        var update = new UniPcUpdate(a, c, residualScale, rk0, rho0, rk1, rho1, rhoLast, k, HasLast: true);
        update.Apply(lastSample, m0, m1, m2, modelT, sample);
    }
}
