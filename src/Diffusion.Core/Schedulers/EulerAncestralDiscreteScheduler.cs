using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Euler ancestral sampler, mirroring diffusers' <c>schedulers/scheduling_euler_ancestral_discrete.py</c>
/// (<c>EulerAncestralDiscreteScheduler</c>): an Euler step down to σ_down followed by fresh noise of
/// standard deviation σ_up, one N(0,1) tensor drawn per step (diffusers' <c>randn_tensor</c>).
/// Supports epsilon and v_prediction, the three timestep spacings and <c>rescale_betas_zero_snr</c>.
/// </summary>
/// <remarks>
/// Left out: custom timestep lists. diffusers raises for <c>prediction_type</c> sample, and so does this class
/// (<see cref="InvalidOptionException"/> at construction).
/// </remarks>
public sealed class EulerAncestralDiscreteScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>EulerAncestralDiscreteScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "EulerAncestralDiscreteScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", PredictionType = "epsilon", TimestepSpacing = "linspace", StepsOffset = 0, RescaleBetasZeroSnr = false,
    };

    private readonly float[] _trainSigmas;
    private float[] _sigmas = [];

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException"><c>prediction_type</c> is not epsilon or v_prediction, or another value is out of range.</exception>
    public EulerAncestralDiscreteScheduler(SchedulerConfig config) : base(config, DiffusersDefaults)
    {
        if (Config.PredictionType is not ("epsilon" or "v_prediction"))
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": prediction_type", $"'{Config.PredictionType}' is not supported by EulerAncestralDiscreteScheduler; expected epsilon or v_prediction.");
        _trainSigmas = Schedule.Sigmas.ToArray();
        if (Config.RescaleBetasZeroSnr)
        {
            const float lastAlphaCumprod = 5.9604645e-08f; // 2**-24, as diffusers
            _trainSigmas[^1] = MathF.Sqrt((1f - lastAlphaCumprod) / lastAlphaCumprod);
        }
    }

    /// <inheritdoc />
    public override float InitNoiseSigma => DiscreteSigmas.InitNoiseSigma(Config, _sigmas.Length > 0 ? _sigmas : _trainSigmas);

    /// <summary>The sigma at each step index plus the final 0.</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <inheritdoc />
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        double[] timesteps = DiscreteSigmas.SpacedTimesteps(Config, inferenceSteps);
        double[] sigmas = DiscreteSigmas.Interpolate(_trainSigmas, timesteps);
        _sigmas = DiscreteSigmas.AppendAndRound(sigmas, 0.0);
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
        IRandomSource noiseSource = RequireRandom(random);
        float sigma = _sigmas[stepIndex];
        float sigmaTo = _sigmas[stepIndex + 1];
        float sigmaFromSquared = sigma * sigma;
        float sigmaToSquared = sigmaTo * sigmaTo;
        float sigmaUp = MathF.Sqrt(sigmaToSquared * (sigmaFromSquared - sigmaToSquared) / sigmaFromSquared);
        float sigmaDown = MathF.Sqrt(sigmaToSquared - sigmaUp * sigmaUp);
        float dt = sigmaDown - sigma;

        Span<float> predicted = Scratch(0, sample.Length);
        DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigma, predicted, Scratch(PredictionScratchSlot, sample.Length));
        // derivative = (x − x0)/σ; x += derivative·dt; x += noise·σ_up — one float32 rounding per scalar operation,
        // in the scalar order (no fused multiply-add), so the result is bit-identical to the scalar loop.
        TensorPrimitives.Subtract(sample, predicted, predicted);
        TensorPrimitives.Divide(predicted, sigma, predicted);
        TensorPrimitives.Multiply(predicted, dt, predicted);
        TensorPrimitives.Add(sample, predicted, sample);
        Span<float> noise = predicted; // x0 is no longer needed
        noiseSource.NextStandardNormal(noise);
        TensorPrimitives.Multiply(noise, sigmaUp, noise);
        TensorPrimitives.Add(sample, noise, sample);
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
