using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// PNDM (pseudo numerical methods, Liu et al. 2022), mirroring diffusers' <c>schedulers/scheduling_pndm.py</c>
/// (<c>PNDMScheduler</c>), Stable Diffusion 1.x's default: with <c>skip_prk_steps</c> the PLMS linear multistep
/// method (the second timestep repeated, as diffusers), otherwise 12 Runge–Kutta (PRK) warm-up evaluations
/// followed by PLMS. Epsilon and v_prediction; leading / trailing / linspace spacing; <c>set_alpha_to_one</c>.
/// </summary>
/// <remarks>
/// Left out: nothing of the class' numerical behaviour; diffusers raises for <c>prediction_type</c> sample,
/// and so does this class. With PRK steps (skip_prk_steps false) at least 4 inference steps are needed, as in
/// diffusers. Steps must run in consecutive order from the first one (which may be part-way, for img2img).
/// </remarks>
public sealed class PndmScheduler : SchedulerBase
{
    /// <summary>diffusers' <c>PNDMScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "PNDMScheduler",
        NumTrainTimesteps = 1000,
        TrainedBetas = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", SkipPrkSteps = false, SetAlphaToOne = false, PredictionType = "epsilon", TimestepSpacing = "leading", StepsOffset = 0,
    };

    private const int EtsSlots = 4;      // scratch slots 0..3: ring of past model outputs
    private const int CurrentSampleSlot = 4;
    private const int CurrentOutputSlot = 5;
    private const int CombinedOutputSlot = 6;
    private const int TempSlot0 = 7;     // slots 7, 8: temporaries of the vectorised element-wise math
    private const int TempSlot1 = 8;

    private readonly float _finalAlphaCumprod;
    private int _prkCount;
    private int _counter;
    private int _lastStepIndex = -1;
    private int _etsCount;
    private int _etsHead = -1;
    private bool _hasCurrentSample;

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException"><c>prediction_type</c> is not epsilon or v_prediction, or another value is out of range.</exception>
    public PndmScheduler(SchedulerConfig config) : base(config, DiffusersDefaults)
    {
        if (Config.PredictionType is not ("epsilon" or "v_prediction"))
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": prediction_type", $"'{Config.PredictionType}' is not supported by PndmScheduler; expected epsilon or v_prediction.");
        _finalAlphaCumprod = Config.SetAlphaToOne ? 1f : Schedule.AlphasCumprod[0];
    }

    /// <inheritdoc />
    protected override float[] ComputeTimesteps(int inferenceSteps)
    {
        int trainSteps = Config.NumTrainTimesteps;
        // diffusers' _timesteps, ascending.
        long[] ascending;
        switch (Config.TimestepSpacing)
        {
            case "linspace":
            {
                double[] values = NoiseSchedule.NumpyLinspace(0, trainSteps - 1, inferenceSteps);
                ascending = new long[values.Length];
                for (int i = 0; i < values.Length; i++)
                    ascending[i] = (long)Math.Round(values[i], MidpointRounding.ToEven);
                break;
            }
            default:
            {
                double[] descending = NoiseSchedule.SpacedTimesteps(Config.TimestepSpacing, trainSteps, inferenceSteps, Config.StepsOffset);
                ascending = new long[descending.Length];
                for (int i = 0; i < descending.Length; i++)
                    ascending[i] = (long)descending[descending.Length - 1 - i];
                break;
            }
        }

        var timesteps = new List<float>(ascending.Length + 12);
        if (Config.SkipPrkSteps)
        {
            // concatenate([_t[:-1], _t[-2:-1], _t[-1:]])[::-1]
            timesteps.Add(ascending[^1]);
            if (ascending.Length >= 2)
                timesteps.Add(ascending[^2]);
            for (int i = ascending.Length - 2; i >= 0; i--)
                timesteps.Add(ascending[i]);
            _prkCount = 0;
        }
        else
        {
            if (ascending.Length < 4)
                throw new InvalidOptionException("InferenceSteps", $"PndmScheduler with skip_prk_steps false needs at least 4 inference steps, got {inferenceSteps}.");
            int half = trainSteps / inferenceSteps / 2;
            // prk = _t[-4:].repeat(2) + tile([0, half], 4); then prk[:-1].repeat(2)[1:-1][::-1]
            var prk = new long[8];
            for (int i = 0; i < 4; i++)
            {
                prk[2 * i] = ascending[ascending.Length - 4 + i];
                prk[2 * i + 1] = ascending[ascending.Length - 4 + i] + half;
            }
            var repeated = new long[14];
            for (int i = 0; i < 7; i++)
            {
                repeated[2 * i] = prk[i];
                repeated[2 * i + 1] = prk[i];
            }
            for (int i = 12; i >= 1; i--)
                timesteps.Add(repeated[i]);
            _prkCount = 12;
            // plms = _t[:-3][::-1]
            for (int i = ascending.Length - 4; i >= 0; i--)
                timesteps.Add(ascending[i]);
        }
        _counter = 0;
        _lastStepIndex = -1;
        _etsCount = 0;
        _etsHead = -1;
        _hasCurrentSample = false;
        return [.. timesteps];
    }

    /// <inheritdoc />
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        // diffusers counts its own calls; the first may be at any index (img2img starts part-way), the rest follow on.
        if (_counter > 0 && stepIndex != _lastStepIndex + 1)
            throw new InvalidOperationException($"PndmScheduler: expected step index {_lastStepIndex + 1} (steps run in order after the first), got {stepIndex}.");
        if (_counter > 0 && !HasScratch(CurrentSampleSlot, sample.Length))
            throw new InvalidOperationException("PndmScheduler: the sample length changed during a run; call SetTimesteps first.");
        ReserveScratch(TempSlot1 + 1, sample.Length);
        if (_counter < _prkCount)
            StepPrk(modelOutput, stepIndex, sample);
        else
            StepPlms(modelOutput, stepIndex, sample);
        _counter++;
        _lastStepIndex = stepIndex;
    }

    private int StepSize => Config.NumTrainTimesteps / InferenceSteps;

    private void StepPrk(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        int n = sample.Length;
        int diffToPrevious = _counter % 2 == 1 ? 0 : StepSize / 2;
        int previousTimestep = (int)Timesteps[stepIndex] - diffToPrevious;
        int timestep = (int)Timesteps[_counter / 4 * 4];
        Span<float> currentOutput = Scratch(CurrentOutputSlot, n);
        Span<float> currentSample = Scratch(CurrentSampleSlot, n);
        Span<float> combined = Scratch(CombinedOutputSlot, n);
        const float oneSixth = (float)(1.0 / 6);
        const float oneThird = (float)(1.0 / 3);
        ReadOnlySpan<float> output;
        switch (_counter % 4)
        {
            case 0:
                // 0 + ⅙·ε (the 0 + turns −0 into +0, as the scalar expression)
                TensorPrimitives.Multiply(modelOutput, oneSixth, currentOutput);
                TensorPrimitives.Add(currentOutput, 0f, currentOutput);
                PushEts(modelOutput);
                sample.CopyTo(currentSample);
                _hasCurrentSample = true;
                output = modelOutput;
                break;
            case 1:
            case 2:
                TensorPrimitives.Multiply(modelOutput, oneThird, combined); // combined is free until the fourth stage
                TensorPrimitives.Add(currentOutput, combined, currentOutput);
                output = modelOutput;
                break;
            default:
                TensorPrimitives.Multiply(modelOutput, oneSixth, combined);
                TensorPrimitives.Add(currentOutput, combined, combined);
                currentOutput.Clear();
                output = combined;
                break;
        }
        PreviousSample(_hasCurrentSample ? currentSample : sample, timestep, previousTimestep, output, sample);
    }

    private void StepPlms(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        int n = sample.Length;
        int timestep = (int)Timesteps[stepIndex];
        int previousTimestep = timestep - StepSize;
        if (_counter != 1)
        {
            PushEts(modelOutput);
        }
        else
        {
            previousTimestep = timestep;
            timestep += StepSize;
        }

        Span<float> combined = Scratch(CombinedOutputSlot, n);
        Span<float> currentSample = Scratch(CurrentSampleSlot, n);
        ReadOnlySpan<float> e1 = _etsCount >= 1 ? Ets(0, n) : default;
        Span<float> source = sample;
        if (_etsCount == 1 && _counter == 0)
        {
            modelOutput.CopyTo(combined);
            sample.CopyTo(currentSample);
            _hasCurrentSample = true;
        }
        else if (_etsCount == 1 && _counter == 1)
        {
            TensorPrimitives.Add(modelOutput, e1, combined);
            TensorPrimitives.Divide(combined, 2f, combined);
            source = currentSample;
            _hasCurrentSample = false;
        }
        else if (_etsCount == 2)
        {
            ReadOnlySpan<float> e2 = Ets(1, n);
            TensorPrimitives.Multiply(e1, 3f, combined);
            TensorPrimitives.Subtract(combined, e2, combined);
            TensorPrimitives.Divide(combined, 2f, combined);
        }
        else if (_etsCount == 3)
        {
            ReadOnlySpan<float> e2 = Ets(1, n), e3 = Ets(2, n);
            // ((23·e1 − 16·e2) + 5·e3)/12, one float32 rounding per scalar operation (no fused multiply-add)
            Span<float> term = Scratch(TempSlot0, n);
            TensorPrimitives.Multiply(e1, 23f, combined);
            TensorPrimitives.Multiply(e2, 16f, term);
            TensorPrimitives.Subtract(combined, term, combined);
            TensorPrimitives.Multiply(e3, 5f, term);
            TensorPrimitives.Add(combined, term, combined);
            TensorPrimitives.Divide(combined, 12f, combined);
        }
        else
        {
            ReadOnlySpan<float> e2 = Ets(1, n), e3 = Ets(2, n), e4 = Ets(3, n);
            const float oneTwentyFourth = (float)(1.0 / 24);
            // (1/24)·(((55·e1 − 59·e2) + 37·e3) − 9·e4), one float32 rounding per scalar operation (no fused multiply-add)
            Span<float> term = Scratch(TempSlot0, n);
            TensorPrimitives.Multiply(e1, 55f, combined);
            TensorPrimitives.Multiply(e2, 59f, term);
            TensorPrimitives.Subtract(combined, term, combined);
            TensorPrimitives.Multiply(e3, 37f, term);
            TensorPrimitives.Add(combined, term, combined);
            TensorPrimitives.Multiply(e4, 9f, term);
            TensorPrimitives.Subtract(combined, term, combined);
            TensorPrimitives.Multiply(combined, oneTwentyFourth, combined);
        }
        PreviousSample(source, timestep, previousTimestep, combined, sample);
    }

    /// <summary>Appends a model output to the history of the last four (diffusers' <c>ets</c>).</summary>
    private void PushEts(ReadOnlySpan<float> modelOutput)
    {
        _etsHead = (_etsHead + 1) % EtsSlots;
        modelOutput.CopyTo(Scratch(_etsHead, modelOutput.Length));
        _etsCount = Math.Min(_etsCount + 1, EtsSlots);
    }

    /// <summary>The model output <paramref name="back"/> entries before the newest (0 = ets[-1]).</summary>
    private Span<float> Ets(int back, int length) => Scratch((_etsHead - back + EtsSlots) % EtsSlots, length);

    /// <summary>
    /// diffusers' <c>_get_prev_sample</c> (formula (9) of the PNDM paper), float32 op by op; writes
    /// <paramref name="destination"/>, which may alias <paramref name="source"/>.
    /// </summary>
    private void PreviousSample(ReadOnlySpan<float> source, int timestep, int previousTimestep, ReadOnlySpan<float> modelOutput, Span<float> destination)
    {
        float alphaProd = AlphaCumprodAt(timestep);
        float alphaProdPrevious = previousTimestep >= 0 ? AlphaCumprodAt(previousTimestep) : _finalAlphaCumprod;
        float betaProd = 1f - alphaProd;
        float betaProdPrevious = 1f - alphaProdPrevious;
        float sampleCoefficient = MathF.Sqrt(alphaProdPrevious / alphaProd);
        float denominator = alphaProd * MathF.Sqrt(betaProdPrevious) + MathF.Sqrt(alphaProd * betaProd * alphaProdPrevious);
        float difference = alphaProdPrevious - alphaProd;
        bool vPrediction = Config.PredictionType == "v_prediction";
        float sqrtAlpha = MathF.Sqrt(alphaProd);
        float sqrtBeta = MathF.Sqrt(betaProd);
        // x_prev = c·x − ((ᾱ_prev − ᾱ)·ε)/denominator with ε = √ᾱ·v + √(1-ᾱ)·x for v_prediction: one float32
        // rounding per scalar operation in the scalar order (no fused multiply-add), so bit-identical to it.
        int n = destination.Length;
        Span<float> correction = Scratch(TempSlot0, n);
        if (vPrediction)
        {
            Span<float> scaledSample = Scratch(TempSlot1, n);
            TensorPrimitives.Multiply(modelOutput, sqrtAlpha, correction);
            TensorPrimitives.Multiply(source, sqrtBeta, scaledSample);
            TensorPrimitives.Add(correction, scaledSample, correction);
            TensorPrimitives.Multiply(correction, difference, correction);
        }
        else
        {
            TensorPrimitives.Multiply(modelOutput, difference, correction);
        }
        TensorPrimitives.Divide(correction, denominator, correction);
        TensorPrimitives.Multiply(source, sampleCoefficient, destination);
        TensorPrimitives.Subtract(destination, correction, destination);
    }

    /// <inheritdoc />
    public override void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        int timestep = (int)Timesteps[stepIndex];
        AlphaCumprodAt(timestep);
        AddNoiseAtTimestep(originalSample, noise, timestep, destination);
    }

    private float AlphaCumprodAt(int timestep)
    {
        if ((uint)timestep >= (uint)Schedule.TrainTimesteps)
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": steps_offset", $"timestep {timestep} is outside the {Schedule.TrainTimesteps} training timesteps.");
        return Schedule.AlphasCumprod[timestep];
    }
}
