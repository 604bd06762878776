using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// KDPM2 ancestral (k-diffusion's "sample_dpm_2_ancestral"), mirroring diffusers'
/// <c>schedulers/scheduling_k_dpm_2_ancestral_discrete.py</c> (<c>KDPM2AncestralDiscreteScheduler</c>): the
/// KDPM2 midpoint step aimed at σ_down, then fresh noise of standard deviation σ_up, one N(0,1) tensor drawn
/// at each completing (odd) step index. <see cref="IScheduler.Timesteps"/> has 2·steps − 1 entries.
/// Supports epsilon / v_prediction, Karras (timesteps rounded, as diffusers) / exponential / beta sigmas.
/// </summary>
/// <remarks>
/// Left out: custom timestep lists. diffusers raises for <c>prediction_type</c> sample, and so does this class.
/// Steps must run in order.
/// </remarks>
public sealed class KDpm2AncestralDiscreteScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>KDPM2AncestralDiscreteScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "KDPM2AncestralDiscreteScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = "linear", PredictionType = "epsilon", TimestepSpacing = "linspace", StepsOffset = 0,
    };

    private float[] _sigmas = [];
    private float[] _sigmasInterpol = [];
    private float[] _sigmasUp = [];
    private float[] _sigmasDown = [];
    private int _pendingFirstHalfIndex = -1;

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException"><c>prediction_type</c> is not epsilon or v_prediction, or another value is out of range.</exception>
    public KDpm2AncestralDiscreteScheduler(SchedulerConfig config) : base(config, DiffusersDefaults)
    {
        if (Config.PredictionType is not ("epsilon" or "v_prediction"))
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": prediction_type", $"'{Config.PredictionType}' is not supported by KDpm2AncestralDiscreteScheduler; expected epsilon or v_prediction.");
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
        int m = sigmas.Length;

        // Float32 as diffusers: σ_up = (σ_next²(σ² − σ_next²)/σ²)^½ (NaN for the final 0, unused),
        // σ_down = (σ_next² − σ_up²)^½ with the last set to 0, σ_interpol = exp(lerp(ln σ, ln σ_down, ½)) with the last two 0.
        var up = new float[m];
        var down = new float[m];
        var interpol = new float[m];
        for (int i = 0; i < m; i++)
        {
            float sigma = sigmas[i];
            float next = i + 1 < m ? sigmas[i + 1] : 0f;
            float nextSquared = next * next;
            float sigmaSquared = sigma * sigma;
            up[i] = MathF.Sqrt(nextSquared * (sigmaSquared - nextSquared) / sigmaSquared);
            down[i] = i == m - 1 ? 0f : MathF.Sqrt(nextSquared - up[i] * up[i]);
        }
        for (int i = 0; i < m; i++)
            interpol[i] = i >= m - 2 ? 0f : KDpm2DiscreteScheduler.GeometricMidpoint(sigmas[i], down[i]);
        _sigmas = DiscreteSigmas.Interleave(sigmas);
        _sigmasInterpol = DiscreteSigmas.Interleave(interpol);
        _sigmasUp = DiscreteSigmas.Interleave(up);
        _sigmasDown = DiscreteSigmas.Interleave(down);
        _pendingFirstHalfIndex = -1;

        // [t0, ti0, t1, ti1, t2, ...]: ti_k = _sigma_to_t(interpol[k]) for k = 0..n-2.
        int n = timesteps.Length;
        var result = new float[2 * n - 1];
        result[0] = (float)timesteps[0];
        for (int k = 1; k < n; k++)
        {
            result[2 * k - 1] = NoiseSchedule.SigmaToTimestepSingle(Schedule.LogSigmas, interpol[k - 1]);
            result[2 * k] = (float)timesteps[k];
        }
        return result;
    }

    /// <inheritdoc />
    public override void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        RequireSameLength(sample.Length, destination.Length, nameof(destination));
        float sigma = stepIndex % 2 == 0 ? _sigmas[stepIndex] : _sigmasInterpol[stepIndex - 1];
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
            float sigmaInterpol = _sigmasInterpol[stepIndex];
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
                throw new InvalidOperationException($"KDpm2AncestralDiscreteScheduler: step {stepIndex} completes step {stepIndex - 1}, which was not run just before it.");
            IRandomSource noiseSource = RequireRandom(random);
            float sigma = _sigmas[stepIndex - 1];
            float sigmaInterpol = _sigmasInterpol[stepIndex - 1];
            float sigmaUp = _sigmasUp[stepIndex - 1];
            float sigmaDown = _sigmasDown[stepIndex - 1];
            DiscreteSigmas.PredictOriginalSample(Config.PredictionType, modelOutput, sample, sigmaInterpol, predicted, Scratch(PredictionScratchSlot, sample.Length));
            float dt = sigmaDown - sigma;
            // derivative = (x − x0)/σ_interpol; x = x_first + derivative·dt, op by op as the scalar expression.
            TensorPrimitives.Subtract(sample, predicted, predicted);
            TensorPrimitives.Divide(predicted, sigmaInterpol, predicted);
            TensorPrimitives.Multiply(predicted, dt, predicted);
            TensorPrimitives.Add(firstSample, predicted, sample);
            Span<float> noise = predicted;
            noiseSource.NextStandardNormal(noise);
            TensorPrimitives.Multiply(noise, sigmaUp, noise);
            TensorPrimitives.Add(sample, noise, sample);
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
