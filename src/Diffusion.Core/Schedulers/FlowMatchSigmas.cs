namespace Diffusion.Core.Schedulers;

/// <summary>
/// The sigma schedule of the flow-matching schedulers (σ from 1 = pure noise to 0 = clean, timestep = σ·N), as
/// diffusers' <c>scheduling_flow_match_euler_discrete.py</c> builds it in <c>__init__</c> and <c>set_timesteps</c>:
/// static shift, resolution-dependent (dynamic) shift through <c>mu</c>, <c>shift_terminal</c> stretch,
/// Karras / exponential / beta re-spacing, inversion; plus the pipelines' <c>calculate_shift</c> and FLUX's default
/// custom sigmas. The flow-matching schedulers share it, as the discrete ones share <see cref="NoiseSchedule"/>.
/// </summary>
/// <remarks>
/// Precision follows diffusers op by op: the default schedule is numpy float64 and rounded to float32 once; custom
/// sigmas or timesteps are numpy float32 arrays, so every operation on them rounds to float32 with Python scalars
/// cast to float32 first (numpy 2's rules), emulated here by float64 operations on float32 values rounded after each
/// operation (exact for +, −, ×, ÷ of float32 values).
/// </remarks>
public static class FlowMatchSigmas
{
    /// <summary>
    /// The pipelines' <c>calculate_shift</c> (FLUX.1, SD3): mu grows linearly from <c>base_shift</c> at
    /// <c>base_image_seq_len</c> image tokens to <c>max_shift</c> at <c>max_image_seq_len</c>, in float64 as Python.
    /// </summary>
    /// <param name="imageSequenceLength">Image tokens: (latent height / patch) × (latent width / patch), e.g. 4096 for a 1024² FLUX image.</param>
    /// <param name="config">The scheduler configuration holding the four bounds.</param>
    /// <exception cref="InvalidOptionException"><paramref name="imageSequenceLength"/> is less than 1.</exception>
    public static double CalculateShift(int imageSequenceLength, SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (imageSequenceLength < 1)
            throw new InvalidOptionException("ImageSequenceLength", $"must be at least 1, got {imageSequenceLength}.");
        double m = (config.MaxShift - config.BaseShift) / (config.MaxImageSeqLen - config.BaseImageSeqLen);
        double b = config.BaseShift - m * config.BaseImageSeqLen;
        return imageSequenceLength * m + b;
    }

    /// <summary>
    /// The custom sigmas FLUX.1's pipeline passes to <c>set_timesteps</c> by default:
    /// <c>np.linspace(1.0, 1 / steps, steps)</c>, as the float32 values the scheduler reads.
    /// </summary>
    /// <exception cref="InvalidOptionException"><paramref name="steps"/> is less than 1 or above <see cref="SchedulerConfig.MaxTrainTimesteps"/>.</exception>
    public static float[] FluxDefaultSigmas(int steps)
    {
        RequireStepCount(steps);
        return ToSingle(NoiseSchedule.NumpyLinspace(1.0, 1.0 / steps, steps));
    }

    /// <summary>
    /// σ_max and σ_min of the training schedule built in <c>__init__</c>: σ = t/N for t = N..1 in float32, shifted
    /// by <c>shift</c> unless <paramref name="applyShift"/> is false (dynamic shifting shifts later).
    /// </summary>
    internal static (double Max, double Min) TrainingBounds(int trainTimesteps, double shift, bool applyShift)
    {
        float max = 1f; // N / N
        float min = 1f / trainTimesteps;
        if (applyShift)
        {
            max = ShiftSingle(max, shift);
            min = ShiftSingle(min, shift);
        }
        return (max, min);
    }

    /// <summary>
    /// The sigmas of <c>set_timesteps</c> before the terminal value is appended, float32, and the step count they
    /// give. <paramref name="customSigmas"/> / <paramref name="customTimesteps"/> are already validated.
    /// </summary>
    internal static float[] Schedule(SchedulerConfig config, (double Max, double Min) bounds, int steps,
        float[]? customSigmas, float[]? customTimesteps, double? mu)
    {
        int n = config.NumTrainTimesteps;
        bool single = customSigmas is not null || customTimesteps is not null;
        double[] sigmas;
        if (customSigmas is not null)
        {
            sigmas = ToDouble(customSigmas);
        }
        else if (customTimesteps is not null)
        {
            sigmas = new double[customTimesteps.Length];
            for (int i = 0; i < sigmas.Length; i++)
                sigmas[i] = (float)(customTimesteps[i] / (double)n);
        }
        else
        {
            sigmas = NoiseSchedule.NumpyLinspace(bounds.Max * n, bounds.Min * n, steps);
            for (int i = 0; i < sigmas.Length; i++)
                sigmas[i] /= n;
        }

        if (config.UseDynamicShifting)
            TimeShift(sigmas, config.TimeShiftType, mu!.Value, single);
        else
            StaticShift(sigmas, config.Shift, single);
        if (config.ShiftTerminal is double terminal && terminal != 0)
            StretchToTerminal(sigmas, terminal, single);

        // Re-spacing reads the ends of the shifted schedule and works in float64 whatever the input.
        double first = sigmas[0], last = sigmas[^1];
        if (config.UseKarrasSigmas)
            sigmas = NoiseSchedule.KarrasSigmas(last, first, sigmas.Length);
        else if (config.UseExponentialSigmas)
            sigmas = NoiseSchedule.ExponentialSigmas(last, first, sigmas.Length);
        else if (config.UseBetaSigmas)
            sigmas = NoiseSchedule.BetaSigmas(last, first, sigmas.Length);
        float[] result = ToSingle(sigmas);
        // diffusers would step with NaN (e.g. exponential sigmas down to a custom last sigma of 0, log 0 = −∞).
        for (int i = 0; i < result.Length; i++)
        {
            if (!float.IsFinite(result[i]))
            {
                throw new InvalidOptionException(customSigmas is not null ? "Sigmas" : "scheduler_config.json: shift",
                    $"the schedule's sigma {i} is {result[i]} (shift {config.Shift}, mu {mu?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}"
                    + (config.UseExponentialSigmas ? ", exponential sigmas need a last sigma above 0" : "") + ").");
            }
        }
        return result;
    }

    /// <summary>σ' = s·σ/(1 + (s − 1)·σ).</summary>
    private static void StaticShift(double[] sigmas, double shift, bool single)
    {
        for (int i = 0; i < sigmas.Length; i++)
        {
            double sigma = sigmas[i];
            sigmas[i] = single
                ? R(R(R(shift) * sigma) / R(1 + R(R(shift - 1) * sigma)))
                : shift * sigma / (1 + (shift - 1) * sigma);
        }
    }

    /// <summary>The same shift on a float32 value, as torch computes it in <c>__init__</c>.</summary>
    private static float ShiftSingle(float sigma, double shift)
    {
        float s = (float)shift;
        float sMinusOne = (float)(shift - 1);
        return s * sigma / (1f + sMinusOne * sigma);
    }

    /// <summary>diffusers' <c>time_shift(mu, 1.0, σ)</c>: e^mu/(e^mu + (1/σ − 1)) or mu/(mu + (1/σ − 1)); the power 1.0 is the identity.</summary>
    private static void TimeShift(double[] sigmas, string type, double mu, bool single)
    {
        double numerator = type == "linear" ? mu : Math.Exp(mu);
        if (single)
            numerator = R(numerator);
        for (int i = 0; i < sigmas.Length; i++)
        {
            double sigma = sigmas[i];
            sigmas[i] = single
                ? R(numerator / R(numerator + R(R(1 / sigma) - 1)))
                : numerator / (numerator + (1 / sigma - 1));
        }
    }

    /// <summary>diffusers' <c>stretch_shift_to_terminal</c>: 1 − (1 − σ)/((1 − σ_last)/(1 − terminal)).</summary>
    private static void StretchToTerminal(double[] sigmas, double terminal, bool single)
    {
        double scale = single ? R(R(1 - sigmas[^1]) / R(1 - terminal)) : (1 - sigmas[^1]) / (1 - terminal);
        for (int i = 0; i < sigmas.Length; i++)
            sigmas[i] = single ? R(1 - R(R(1 - sigmas[i]) / scale)) : 1 - (1 - sigmas[i]) / scale;
    }

    /// <summary>Checks a step count before anything is allocated for it.</summary>
    internal static void RequireStepCount(int steps, string option = "InferenceSteps")
    {
        if (steps < 1 || steps > SchedulerConfig.MaxTrainTimesteps)
            throw new InvalidOptionException(option, $"must be between 1 and {SchedulerConfig.MaxTrainTimesteps}, got {steps}.");
    }

    private static double R(double value) => (float)value;

    private static double[] ToDouble(float[] values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = values[i];
        return result;
    }

    private static float[] ToSingle(double[] values)
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = (float)values[i];
        return result;
    }
}
