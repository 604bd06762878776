using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// DDIM (Song et al. 2020), mirroring diffusers' <c>schedulers/scheduling_ddim.py</c> (<c>DDIMScheduler</c>):
/// epsilon / v_prediction / sample, leading / trailing / linspace spacing with <c>steps_offset</c>,
/// <c>set_alpha_to_one</c>, <c>clip_sample</c>, dynamic thresholding (per sample, see
/// <see cref="SchedulerBase.SampleCount"/>), <c>rescale_betas_zero_snr</c>, and η
/// (<see cref="SchedulerConfig.Eta"/>, diffusers' <c>step(eta=...)</c>): with η &gt; 0 each step draws one N(0,1)
/// tensor from the <see cref="IRandomSource"/>, as diffusers' <c>randn_tensor</c>.
/// </summary>
/// <remarks>
/// Left out: <c>use_clipped_model_output</c>, caller-supplied <c>variance_noise</c>, and <c>get_velocity</c>.
/// </remarks>
public sealed class DdimScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>DDIMScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "DDIMScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", ClipSample = true, SetAlphaToOne = true, StepsOffset = 0, PredictionType = "epsilon", Thresholding = false, DynamicThresholdingRatio = 0.995f, ClipSampleRange = 1f, SampleMaxValue = 1f, TimestepSpacing = "leading", RescaleBetasZeroSnr = false,
    };

    private readonly float _finalAlphaCumprod;

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A config value is unsupported.</exception>
    public DdimScheduler(SchedulerConfig config) : base(config, DiffusersDefaults)
    {
        RequireStandardPredictionType();
        _finalAlphaCumprod = Config.SetAlphaToOne ? 1f : Schedule.AlphasCumprod[0];
    }

    /// <inheritdoc />
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        double[] raw = NoiseSchedule.SpacedTimesteps(Config.TimestepSpacing, Config.NumTrainTimesteps, inferenceSteps, Config.StepsOffset);
        var timesteps = new float[raw.Length];
        for (int i = 0; i < raw.Length; i++)
            timesteps[i] = (long)Math.Round(raw[i], MidpointRounding.ToEven); // .round().astype(np.int64)
        return timesteps;
    }

    /// <inheritdoc />
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        int timestep = (int)Timesteps[stepIndex];
        int previousTimestep = timestep - Config.NumTrainTimesteps / InferenceSteps;
        float alphaProd = AlphaCumprodAt(timestep);
        float alphaProdPrevious = previousTimestep >= 0 ? AlphaCumprodAt(previousTimestep) : _finalAlphaCumprod;
        float betaProd = 1f - alphaProd;
        float sqrtAlpha = MathF.Sqrt(alphaProd);
        float sqrtBeta = MathF.Sqrt(betaProd);

        int n = sample.Length;
        Span<float> predictedOriginal = Scratch(0, n);
        Span<float> predictedEpsilon = Scratch(1, n);
        PredictOriginalSample(modelOutput, sample, alphaProd, predictedOriginal);
        switch (Config.PredictionType)
        {
            case "epsilon":
                modelOutput.CopyTo(predictedEpsilon);
                break;
            case "sample":
                // (x − √ᾱ·x0)/√(1-ᾱ), one float32 rounding per operation as the scalar expression.
                TensorPrimitives.Multiply(predictedOriginal, sqrtAlpha, predictedEpsilon);
                TensorPrimitives.Subtract(sample, predictedEpsilon, predictedEpsilon);
                TensorPrimitives.Divide(predictedEpsilon, sqrtBeta, predictedEpsilon);
                break;
            default: // v_prediction: √ᾱ·v + √(1-ᾱ)·x, products rounded separately, then the sum (no fused multiply-add)
            {
                Span<float> scaledSample = Scratch(2, n);
                TensorPrimitives.Multiply(modelOutput, sqrtAlpha, predictedEpsilon);
                TensorPrimitives.Multiply(sample, sqrtBeta, scaledSample);
                TensorPrimitives.Add(predictedEpsilon, scaledSample, predictedEpsilon);
                break;
            }
        }
        ClipOrThreshold(predictedOriginal);

        // σ_t = η·√((1-ᾱ_prev)/(1-ᾱ_t)·(1-ᾱ_t/ᾱ_prev)), float32 op by op as torch.
        float variance = (1f - alphaProdPrevious) / betaProd * (1f - alphaProd / alphaProdPrevious);
        float stdDev = Config.Eta * MathF.Sqrt(variance);
        float directionCoefficient = MathF.Sqrt(1f - alphaProdPrevious - stdDev * stdDev);
        float sqrtAlphaPrevious = MathF.Sqrt(alphaProdPrevious);
        // x_prev = √ᾱ_prev·x0 + √(1-ᾱ_prev-σ²)·ε: both products rounded to float32, then the sum (no fused multiply-add).
        TensorPrimitives.Multiply(predictedOriginal, sqrtAlphaPrevious, predictedOriginal);
        TensorPrimitives.Multiply(predictedEpsilon, directionCoefficient, predictedEpsilon);
        TensorPrimitives.Add(predictedOriginal, predictedEpsilon, sample);

        if (Config.Eta > 0f)
        {
            Span<float> noise = predictedEpsilon;
            RequireRandom(random).NextStandardNormal(noise);
            TensorPrimitives.Multiply(noise, stdDev, noise);
            TensorPrimitives.Add(sample, noise, sample);
        }
    }

    /// <inheritdoc />
    public override void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        AddNoiseAtTimestep(originalSample, noise, CheckedTimestep((int)Timesteps[stepIndex]), destination);
    }

    private float AlphaCumprodAt(int timestep) => Schedule.AlphasCumprod[CheckedTimestep(timestep)];

    private int CheckedTimestep(int timestep)
    {
        // steps_offset can push leading timesteps past the table (diffusers then fails with an index error).
        if ((uint)timestep >= (uint)Schedule.TrainTimesteps)
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": steps_offset", $"timestep {timestep} is outside the {Schedule.TrainTimesteps} training timesteps.");
        return timestep;
    }
}
