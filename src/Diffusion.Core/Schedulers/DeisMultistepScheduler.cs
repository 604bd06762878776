using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// DEIS (diffusion exponential integrator sampler, arXiv 2204.13902) multistep sampler, mirroring diffusers'
/// <c>scheduling_deis_multistep.py</c> (<c>DEISMultistepScheduler</c>, the log-ρ variant, the only one diffusers has).
/// </summary>
/// <remarks>
/// <para>
/// Supported: <c>solver_order</c> 1-3, <c>lower_order_final</c>, Karras/exponential/beta sigmas, <c>timestep_spacing</c>,
/// <c>steps_offset</c>, all beta schedules, prediction types epsilon/v_prediction/sample, dynamic thresholding.
/// <c>algorithm_type</c> dpmsolver/dpmsolver++ and <c>solver_type</c> midpoint/heun/bh1/bh2 are read as deis/logrho,
/// as diffusers does. Left out: flow matching (<c>use_flow_sigmas</c>, <c>flow_prediction</c>, dynamic shifting) and
/// locating the step by timestep value.
/// </para>
/// <para>
/// The schedule is DPM-Solver's (same spacings) with diffusers' DEIS end: the interpolated schedule ends at the training
/// σ_min, the Karras/exponential/beta ones repeat their last sigma. Every step converts the model output to a data
/// prediction and back to a noise prediction (diffusers does so even for epsilon models, and the float32 round trip is
/// kept). The log-ρ integration coefficients are float32 expressions in diffusers' order.
/// </para>
/// </remarks>
public sealed class DeisMultistepScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>DEISMultistepScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "DEISMultistepScheduler",
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
        AlgorithmType = "deis",
        SolverType = "logrho",
        LowerOrderFinal = true,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        UseFlowSigmas = false,
        FlowShift = 1.0,
        TimestepSpacing = "linspace",
        StepsOffset = 0,
    };

    private const int MaxOrder = 3;
    private const int TempSlot = MaxOrder; // slot 3: the element-wise temporary; slots 0..2 hold the model-output history

    private readonly int _solverOrder;
    private readonly DpmSolverSchedule.SigmaKind _sigmaKind;
    private readonly DpmSolverSchedule _dpmSchedule;
    private float[] _sigmas = [];
    private int _newest;
    private int _lowerOrderNums;
    private int _nextStepIndex = -1;

    /// <summary>Creates the scheduler from a diffusers configuration; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A configuration value is not supported (named in the message).</exception>
    public DeisMultistepScheduler(SchedulerConfig config)
        : base(WithoutUnsupportedFields(config))
    {
        if (Config.SolverOrder is < 1 or > MaxOrder)
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": solver_order", $"{Config.SolverOrder} is not 1, 2 or 3.");
        if (Config.AlgorithmType is not ("deis" or "dpmsolver" or "dpmsolver++"))
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": algorithm_type", $"'{Config.AlgorithmType}' is not supported by DEISMultistepScheduler; expected deis.");
        if (Config.SolverType is not ("logrho" or "midpoint" or "heun" or "bh1" or "bh2"))
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": solver_type", $"'{Config.SolverType}' is not supported by DEISMultistepScheduler; expected logrho.");
        _solverOrder = Config.SolverOrder;
        RequireStandardPredictionType();
        _sigmaKind = DpmSolverSchedule.KindOf(Config, supportsLuLambdas: false);
        _dpmSchedule = new DpmSolverSchedule(Schedule, Config);
    }

    /// <summary>The noise levels σ of each step, plus the final one (diffusers' <c>sigmas</c>, length steps + 1).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    // diffusers' DEIS has no lambda_min_clipped, zero-SNR rescaling or sigma bounds; its config keys are read as deis/logrho.
    private static SchedulerConfig WithoutUnsupportedFields(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.WithDefaultsFrom(DiffusersDefaults) with
        {
            LambdaMinClipped = float.NegativeInfinity,
            RescaleBetasZeroSnr = false,
            SigmaMin = null,
            SigmaMax = null,
        };
    }

    /// <inheritdoc/>
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        // uniPcConventions: Karras timesteps always rounded, and a repeated last sigma for the Karras/exponential/beta
        // schedules (the interpolated one ends at the training sigma_min) — DEIS's set_timesteps does both.
        float[] timesteps = _dpmSchedule.Compute(inferenceSteps, _sigmaKind, finalSigmaZero: false, out _sigmas, uniPcConventions: true);
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
        if (_nextStepIndex >= 0 && stepIndex != _nextStepIndex)
        {
            throw new InvalidOperationException(
                $"{nameof(DeisMultistepScheduler)}: step {stepIndex} called after step {_nextStepIndex - 1}; multistep solvers need their steps in order (call SetTimesteps to restart).");
        }

        if (!HasScratch(TempSlot, sample.Length))
        {
            ReserveScratch(TempSlot + 1, sample.Length); // history and temporary now, so later steps never allocate
            _lowerOrderNums = 0;
        }

        int n = Timesteps.Length;
        bool lowerOrderFinal = stepIndex == n - 1 && Config.LowerOrderFinal && n < 15;
        bool lowerOrderSecond = stepIndex == n - 2 && Config.LowerOrderFinal && n < 15;

        _newest = (_newest + 1) % _solverOrder;
        Span<float> converted = Scratch(_newest, sample.Length);
        ConvertModelOutput(modelOutput, stepIndex, sample, converted);

        if (_solverOrder == 1 || _lowerOrderNums < 1 || lowerOrderFinal)
            DpmSolverMath.FirstOrderUpdate(DpmSolverAlgorithm.DpmSolver, _sigmas[stepIndex + 1], _sigmas[stepIndex], converted, sample, default, Scratch(TempSlot, sample.Length));
        else if (_solverOrder == 2 || _lowerOrderNums < 2 || lowerOrderSecond)
            SecondOrderUpdate(stepIndex, sample);
        else
            ThirdOrderUpdate(stepIndex, sample);

        if (_lowerOrderNums < _solverOrder)
            _lowerOrderNums++;
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

    // diffusers' convert_model_output: x0 from the prediction (thresholded when asked), then ε = (x − α_t·x0)/σ_t.
    private void ConvertModelOutput(ReadOnlySpan<float> modelOutput, int stepIndex, ReadOnlySpan<float> sample, Span<float> destination)
    {
        (float alphaT, float sigmaT) = DpmSolverMath.AlphaSigma(_sigmas[stepIndex]);
        DpmSolverMath.ToData(Config.PredictionType, modelOutput, sample, alphaT, sigmaT, destination, Scratch(TempSlot, sample.Length));
        if (Config.Thresholding)
            ThresholdSample(destination);
        DpmSolverMath.DataToNoise(sample, destination, alphaT, sigmaT, destination);
    }

    // x_t = α_t·(x/α_s0 + c1·m0 + c2·m1), c_k the log-ρ Lagrange integrals.
    private void SecondOrderUpdate(int stepIndex, Span<float> sample)
    {
        float alphaT = Rho(_sigmas[stepIndex + 1], out float rhoT);
        float alphaS0 = Rho(_sigmas[stepIndex], out float rhoS0);
        Rho(_sigmas[stepIndex - 1], out float rhoS1);
        float coef1 = Integral2(rhoT, rhoS0, rhoS1) - Integral2(rhoS0, rhoS0, rhoS1);
        float coef2 = Integral2(rhoT, rhoS1, rhoS0) - Integral2(rhoS0, rhoS1, rhoS0);
        Span<float> term = Scratch(TempSlot, sample.Length);
        TensorPrimitives.Divide(sample, alphaS0, sample);
        TensorPrimitives.Multiply(Scratch(_newest, sample.Length), coef1, term);
        TensorPrimitives.Add(sample, term, sample);
        TensorPrimitives.Multiply(Scratch(Previous(1), sample.Length), coef2, term);
        TensorPrimitives.Add(sample, term, sample);
        TensorPrimitives.Multiply(sample, alphaT, sample);
    }

    // x_t = α_t·(x/α_s0 + c1·m0 + c2·m1 + c3·m2).
    private void ThirdOrderUpdate(int stepIndex, Span<float> sample)
    {
        float alphaT = Rho(_sigmas[stepIndex + 1], out float rhoT);
        float alphaS0 = Rho(_sigmas[stepIndex], out float rhoS0);
        Rho(_sigmas[stepIndex - 1], out float rhoS1);
        Rho(_sigmas[stepIndex - 2], out float rhoS2);
        float coef1 = Integral3(rhoT, rhoS0, rhoS1, rhoS2) - Integral3(rhoS0, rhoS0, rhoS1, rhoS2);
        float coef2 = Integral3(rhoT, rhoS1, rhoS2, rhoS0) - Integral3(rhoS0, rhoS1, rhoS2, rhoS0);
        float coef3 = Integral3(rhoT, rhoS2, rhoS0, rhoS1) - Integral3(rhoS0, rhoS2, rhoS0, rhoS1);
        Span<float> term = Scratch(TempSlot, sample.Length);
        TensorPrimitives.Divide(sample, alphaS0, sample);
        TensorPrimitives.Multiply(Scratch(_newest, sample.Length), coef1, term);
        TensorPrimitives.Add(sample, term, sample);
        TensorPrimitives.Multiply(Scratch(Previous(1), sample.Length), coef2, term);
        TensorPrimitives.Add(sample, term, sample);
        TensorPrimitives.Multiply(Scratch(Previous(2), sample.Length), coef3, term);
        TensorPrimitives.Add(sample, term, sample);
        TensorPrimitives.Multiply(sample, alphaT, sample);
    }

    /// <summary>α_t of a raw sigma, with ρ = σ_t/α_t (float32, as diffusers' tensors).</summary>
    private static float Rho(float sigma, out float rho)
    {
        (float alpha, float sigmaT) = DpmSolverMath.AlphaSigma(sigma);
        rho = sigmaT / alpha;
        return alpha;
    }

    /// <summary>∫ (log t − log c)/(log b − log c) dt = t·(log t − log c − 1)/(log b − log c), diffusers' second-order <c>ind_fn</c>.</summary>
    private static float Integral2(float t, float b, float c)
    {
        float logC = MathF.Log(c);
        float factor = ((-logC) + MathF.Log(t)) - 1f;
        return (t * factor) / (MathF.Log(b) - logC);
    }

    /// <summary>diffusers' third-order <c>ind_fn</c>: the antiderivative of the quadratic Lagrange basis in log t.</summary>
    private static float Integral3(float t, float b, float c, float d)
    {
        float logT = MathF.Log(t), logC = MathF.Log(c), logD = MathF.Log(d);
        float inner = (logC * ((logD - logT) + 1f)) - (logD * logT);
        inner = ((((inner + logD) + (logT * logT)) - (2f * logT)) + 2f);
        float numerator = t * inner;
        float denominator = (MathF.Log(b) - logC) * (MathF.Log(b) - logD);
        return numerator / denominator;
    }

    private int Previous(int back) => (_newest - back + _solverOrder) % _solverOrder;
}
