using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Heun's second-order sampler (Karras et al. 2022, Algorithm 1), mirroring diffusers'
/// <c>schedulers/scheduling_heun_discrete.py</c> (<c>HeunDiscreteScheduler</c>). Every logical step but the
/// last takes two model evaluations, so <see cref="IScheduler.Timesteps"/> has 2·steps − 1 entries (each
/// timestep after the first repeated); even step indices are Euler predictions, odd ones the Heun corrections.
/// Supports epsilon / v_prediction / sample, Karras / exponential / beta sigmas, <c>clip_sample</c>.
/// </summary>
/// <remarks>
/// Left out: custom timestep lists and diffusers' <c>exp</c> beta schedule. Steps must run in order (a
/// correction step needs the prediction step before it).
/// </remarks>
public sealed class HeunDiscreteScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>HeunDiscreteScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "HeunDiscreteScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = "linear", PredictionType = "epsilon", ClipSample = false, ClipSampleRange = 1f, TimestepSpacing = "linspace", StepsOffset = 0,
    };

    private float[] _sigmas = [];
    private int _pendingPredictionIndex = -1;
    private float _pendingDt;

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A config value is unsupported.</exception>
    public HeunDiscreteScheduler(SchedulerConfig config) : base(config, DiffusersDefaults) => RequireStandardPredictionType();

    /// <inheritdoc />
    public override int Order => 2;

    /// <inheritdoc />
    public override float InitNoiseSigma => DiscreteSigmas.InitNoiseSigma(Config, _sigmas.Length > 0 ? _sigmas : Schedule.Sigmas);

    /// <summary>The interleaved sigmas (diffusers' <c>self.sigmas</c>), length <c>Timesteps.Length + 1</c>.</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <inheritdoc />
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        double[] timesteps = DiscreteSigmas.SpacedTimesteps(Config, inferenceSteps);
        double[] sigmas = DiscreteSigmas.Interpolate(Schedule.Sigmas, timesteps);
        DiscreteSigmas.ApplySigmaKind(Config, Schedule.LogSigmas, inferenceSteps, useConfigBounds: false, roundKarrasTimesteps: false, ref timesteps, ref sigmas);
        // torch.cat([σ[:1], σ[1:-1].repeat_interleave(2), σ[-1:]]) over the sigmas with the final 0 appended;
        // timesteps[:1] then timesteps[1:] each repeated twice.
        _sigmas = DiscreteSigmas.RepeatAfterFirst(DiscreteSigmas.ToSingle(sigmas), extra: 1); // the final 0 stays 0
        _pendingPredictionIndex = -1;
        return DiscreteSigmas.RepeatAfterFirst(DiscreteSigmas.ToSingle(timesteps));
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
        int n = sample.Length;
        Span<float> predicted = Scratch(0, n);
        Span<float> previousDerivative = Scratch(1, n);
        Span<float> previousSample = Scratch(2, n);
        bool firstOrder = stepIndex % 2 == 0;
        if (firstOrder)
        {
            float sigma = _sigmas[stepIndex];
            float sigmaNext = _sigmas[stepIndex + 1];
            DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigma, predicted, Scratch(PredictionScratchSlot, sample.Length));
            ClipIfConfigured(predicted);
            float dt = sigmaNext - sigma;
            // derivative = (x − x0)/σ; x += derivative·dt — one float32 rounding per scalar operation, no fused multiply-add.
            TensorPrimitives.Subtract(sample, predicted, previousDerivative);
            TensorPrimitives.Divide(previousDerivative, sigma, previousDerivative);
            sample.CopyTo(previousSample);
            TensorPrimitives.Multiply(previousDerivative, dt, predicted);
            TensorPrimitives.Add(sample, predicted, sample);
            _pendingPredictionIndex = stepIndex;
            _pendingDt = dt;
        }
        else
        {
            if (_pendingPredictionIndex != stepIndex - 1)
                throw new InvalidOperationException($"HeunDiscreteScheduler: step {stepIndex} corrects step {stepIndex - 1}, which was not run just before it.");
            float sigmaNext = _sigmas[stepIndex];
            // diffusers evaluates the correction's x0 at σ_next (sample prediction ignores it).
            DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigmaNext, predicted, Scratch(PredictionScratchSlot, sample.Length));
            ClipIfConfigured(predicted);
            float dt = _pendingDt;
            // derivative = ((x − x0)/σ_next + d_prev)/2; x = x_prev + derivative·dt, op by op as the scalar expression.
            Span<float> derivative = predicted;
            TensorPrimitives.Subtract(sample, predicted, derivative);
            TensorPrimitives.Divide(derivative, sigmaNext, derivative);
            TensorPrimitives.Add(previousDerivative, derivative, derivative);
            TensorPrimitives.Divide(derivative, 2f, derivative);
            TensorPrimitives.Multiply(derivative, dt, derivative);
            TensorPrimitives.Add(previousSample, derivative, sample);
            _pendingPredictionIndex = -1;
        }
    }

    private void ClipIfConfigured(Span<float> predicted)
    {
        if (Config.ClipSample)
            System.Numerics.Tensors.TensorPrimitives.Clamp(predicted, -Config.ClipSampleRange, Config.ClipSampleRange, predicted);
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
