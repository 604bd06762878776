using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Euler sampler (Karras et al. 2022, Algorithm 2 without churn), mirroring diffusers'
/// <c>schedulers/scheduling_euler_discrete.py</c> (<c>EulerDiscreteScheduler</c>): sigmas interpolated from
/// the training schedule, optionally Karras / exponential / beta sigmas (<c>sigma_min</c>/<c>sigma_max</c>
/// honoured), <c>final_sigmas_type</c>, <c>interpolation_type</c> linear/log_linear,
/// <c>timestep_type</c> continuous (v-prediction), <c>rescale_betas_zero_snr</c>; epsilon, v_prediction and
/// sample predictions.
/// </summary>
/// <remarks>
/// Left out: the <c>step</c> arguments <c>s_churn</c>/<c>s_tmin</c>/<c>s_tmax</c>/<c>s_noise</c> (diffusers'
/// defaults, i.e. no churn, are used, so the scheduler never draws noise), custom <c>timesteps</c>/<c>sigmas</c>
/// lists in <c>set_timesteps</c>, and <c>get_velocity</c>.
/// </remarks>
public sealed class EulerDiscreteScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>EulerDiscreteScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "EulerDiscreteScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", PredictionType = "epsilon", InterpolationType = "linear", TimestepSpacing = "linspace", TimestepType = "discrete", StepsOffset = 0, RescaleBetasZeroSnr = false, FinalSigmasType = "zero",
    };

    private readonly float[] _trainSigmas;
    private readonly float[] _logTrainSigmas;
    private float[] _sigmas = [];

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A config value is unsupported (e.g. <c>prediction_type</c> flow_prediction).</exception>
    public EulerDiscreteScheduler(SchedulerConfig config) : base(config, DiffusersDefaults)
    {
        RequireStandardPredictionType();
        // diffusers sets the last ᾱ to 2^-24 under zero-SNR rescaling so the last sigma stays finite.
        _trainSigmas = Schedule.Sigmas.ToArray();
        if (Config.RescaleBetasZeroSnr)
        {
            const float lastAlphaCumprod = 5.9604645e-08f; // 2**-24
            _trainSigmas[^1] = MathF.Sqrt((1f - lastAlphaCumprod) / lastAlphaCumprod);
        }
        _logTrainSigmas = NoiseSchedule.LogOf(_trainSigmas);
    }

    /// <inheritdoc />
    public override float InitNoiseSigma => DiscreteSigmas.InitNoiseSigma(Config, _sigmas.Length > 0 ? _sigmas : _trainSigmas);

    /// <summary>The sigma at each step index plus the final sigma (length <c>Timesteps.Length + 1</c>, or more with log_linear interpolation, as diffusers).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <inheritdoc />
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        double[] timesteps = DiscreteSigmas.SpacedTimesteps(Config, inferenceSteps);
        double[] sigmas;
        if (Config.InterpolationType == "log_linear")
        {
            // torch.linspace(log σ_last, log σ_first, steps + 1).exp(): ascending, one longer than the timesteps, as diffusers.
            float[] logs = NoiseSchedule.TorchLinspace((float)Math.Log(_trainSigmas[^1]), (float)Math.Log(_trainSigmas[0]), inferenceSteps + 1);
            sigmas = new double[logs.Length];
            for (int i = 0; i < logs.Length; i++)
                sigmas[i] = (float)Math.Exp(logs[i]);
        }
        else
        {
            sigmas = DiscreteSigmas.Interpolate(_trainSigmas, timesteps);
        }
        DiscreteSigmas.ApplySigmaKind(Config, _logTrainSigmas, inferenceSteps, useConfigBounds: true, roundKarrasTimesteps: false, ref timesteps, ref sigmas);
        double last = Config.FinalSigmasType == "sigma_min" ? _trainSigmas[0] : 0.0;
        _sigmas = DiscreteSigmas.AppendAndRound(sigmas, last);

        if (Config.TimestepType == "continuous" && Config.PredictionType == "v_prediction")
        {
            var continuous = new float[_sigmas.Length - 1];
            for (int i = 0; i < continuous.Length; i++)
                continuous[i] = 0.25f * (float)Math.Log(_sigmas[i]);
            return continuous;
        }
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
        float sigma = _sigmas[stepIndex];
        float dt = _sigmas[stepIndex + 1] - sigma;
        Span<float> predicted = Scratch(0, sample.Length);
        DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigma, predicted, Scratch(PredictionScratchSlot, sample.Length));
        // derivative = (x − x0)/σ; x += derivative·dt — vectorised, each operation rounded to float32 in the same
        // order as diffusers' torch expression, so the result is bit-identical to the scalar loop.
        TensorPrimitives.Subtract(sample, predicted, predicted);
        TensorPrimitives.Divide(predicted, sigma, predicted);
        TensorPrimitives.Multiply(predicted, dt, predicted);
        TensorPrimitives.Add(sample, predicted, sample);
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
