using System.Numerics.Tensors;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// The sigma-space <c>set_timesteps</c> shared by diffusers' Euler, Euler ancestral, Heun, LMS and KDPM2
/// schedulers: spaced timesteps (float32), sigmas interpolated from the training sigmas with np.interp
/// (float64), optionally replaced by Karras / exponential / beta sigmas with timesteps mapped back through
/// <c>_sigma_to_t</c>; plus the element-wise helpers those schedulers share.
/// </summary>
internal static class DiscreteSigmas
{
    /// <summary>Spaced timesteps as diffusers' sigma schedulers compute them: np.float32 values, descending.</summary>
    public static double[] SpacedTimesteps(SchedulerConfig config, int steps)
    {
        double[] timesteps = NoiseSchedule.SpacedTimesteps(config.TimestepSpacing, config.NumTrainTimesteps, steps, config.StepsOffset);
        for (int i = 0; i < timesteps.Length; i++)
            timesteps[i] = (float)timesteps[i];
        return timesteps;
    }

    /// <summary><c>np.interp(timesteps, arange(len(trainSigmas)), trainSigmas)</c>.</summary>
    public static double[] Interpolate(ReadOnlySpan<float> trainSigmas, ReadOnlySpan<double> timesteps)
    {
        var sigmas = new double[timesteps.Length];
        for (int i = 0; i < timesteps.Length; i++)
            sigmas[i] = NoiseSchedule.InterpolateAtTimestep(trainSigmas, timesteps[i]);
        return sigmas;
    }

    /// <summary>
    /// Replaces <paramref name="sigmas"/> by Karras / exponential / beta sigmas when the config asks for them and
    /// maps them back to timesteps. <paramref name="useConfigBounds"/>: the scheduler has diffusers'
    /// <c>sigma_min</c>/<c>sigma_max</c> config fields (Euler); otherwise the interpolated sigmas' ends are used.
    /// <paramref name="roundKarrasTimesteps"/>: KDPM2's <c>.round()</c> of the Karras timesteps.
    /// </summary>
    public static void ApplySigmaKind(SchedulerConfig config, ReadOnlySpan<float> logTrainSigmas, int steps,
        bool useConfigBounds, bool roundKarrasTimesteps, ref double[] timesteps, ref double[] sigmas)
    {
        if (!config.UseKarrasSigmas && !config.UseExponentialSigmas && !config.UseBetaSigmas)
            return;
        double sigmaMin = useConfigBounds && config.SigmaMin is double configMin ? configMin : sigmas[^1];
        double sigmaMax = useConfigBounds && config.SigmaMax is double configMax ? configMax : sigmas[0];
        if (config.UseKarrasSigmas)
            sigmas = NoiseSchedule.KarrasSigmas(sigmaMin, sigmaMax, steps);
        else if (config.UseExponentialSigmas)
            sigmas = NoiseSchedule.ExponentialSigmas(sigmaMin, sigmaMax, steps);
        else
            sigmas = NoiseSchedule.BetaSigmas(sigmaMin, sigmaMax, steps);
        timesteps = new double[sigmas.Length];
        for (int i = 0; i < sigmas.Length; i++)
        {
            double t = NoiseSchedule.SigmaToTimestep(logTrainSigmas, sigmas[i]);
            timesteps[i] = config.UseKarrasSigmas && roundKarrasTimesteps ? Math.Round(t, MidpointRounding.ToEven) : t;
        }
    }

    /// <summary>float64 sigmas followed by <paramref name="last"/>, rounded to float32 (np.concatenate(...).astype(np.float32)).</summary>
    public static float[] AppendAndRound(ReadOnlySpan<double> sigmas, double last)
    {
        var result = new float[sigmas.Length + 1];
        for (int i = 0; i < sigmas.Length; i++)
            result[i] = (float)sigmas[i];
        result[^1] = (float)last;
        return result;
    }

    /// <summary>float64 values rounded to float32.</summary>
    public static float[] ToSingle(ReadOnlySpan<double> values)
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = (float)values[i];
        return result;
    }

    /// <summary>
    /// <c>torch.cat([x[:1], x[1:].repeat_interleave(2), x[-1:]])</c>: the second-order schedulers' doubled arrays.
    /// </summary>
    public static float[] Interleave(ReadOnlySpan<float> values)
    {
        var result = new float[2 * values.Length];
        result[0] = values[0];
        for (int i = 1; i < values.Length; i++)
        {
            result[2 * i - 1] = values[i];
            result[2 * i] = values[i];
        }
        result[^1] = values[^1];
        return result;
    }

    /// <summary>
    /// <c>torch.cat([x[:1], x[1:].repeat_interleave(2)])</c> (2·n − 1 values): Heun's timesteps, and its sigmas before the
    /// final one is appended.
    /// </summary>
    public static float[] RepeatAfterFirst(ReadOnlySpan<float> values, int extra = 0)
    {
        var result = new float[2 * values.Length - 1 + extra];
        result[0] = values[0];
        for (int i = 1; i < values.Length; i++)
        {
            result[2 * i - 1] = values[i];
            result[2 * i] = values[i];
        }
        return result;
    }

    /// <summary>
    /// diffusers' <c>init_noise_sigma</c> for sigma schedulers: max σ for linspace/trailing spacing, else √(max σ² + 1)
    /// (float32). Before <c>SetTimesteps</c> the schedulers pass their training sigmas, whose maximum is what diffusers'
    /// constructors leave in place.
    /// </summary>
    public static float InitNoiseSigma(SchedulerConfig config, ReadOnlySpan<float> sigmas)
    {
        float max = float.NegativeInfinity;
        foreach (float s in sigmas)
        {
            if (float.IsNaN(s))
                return float.NaN;
            max = Math.Max(max, s);
        }
        return config.TimestepSpacing is "linspace" or "trailing" ? max : MathF.Sqrt(max * max + 1f);
    }

    /// <summary><c>sample / ((σ² + 1) ** 0.5)</c> in float32.</summary>
    public static void ScaleBySigma(ReadOnlySpan<float> sample, float sigma, Span<float> destination)
        => TensorPrimitives.Divide(sample, MathF.Sqrt(sigma * sigma + 1f), destination);

    /// <summary>Sigma-space <c>add_noise</c>: <c>x0 + noise·σ</c> in float32.</summary>
    public static void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, float sigma, Span<float> destination)
    {
        // (noise·σ) rounded, then the sum (MultiplyAdd is not fused): one element-wise pass, so the destination may
        // alias either input (writing noise·σ into it first clobbered an aliased original sample).
        TensorPrimitives.MultiplyAdd(noise, sigma, originalSample, destination);
    }

    /// <summary>
    /// x0 predicted by a sigma-parameterised scheduler (k-diffusion's c_skip/c_out), float32 op by op as torch:
    /// epsilon: x - σ·ε; v_prediction: v·(-σ/√(σ²+1)) + x/(σ²+1); sample: the output. May alias <paramref name="modelOutput"/>.
    /// <paramref name="temp"/> is a scratch buffer of the sample's length (used by v_prediction only).
    /// </summary>
    public static void PredictOriginalSample(string predictionType, ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float sigma, Span<float> destination, Span<float> temp)
    {
        switch (predictionType)
        {
            case "epsilon":
                // x0 = x − σ·ε as two rounded float32 operations, exactly as the scalar expression (no fused multiply-add).
                TensorPrimitives.Multiply(modelOutput, sigma, destination);
                TensorPrimitives.Subtract(sample, destination, destination);
                break;
            case "v_prediction":
            {
                float c = sigma * sigma + 1f;
                float cOut = -sigma / MathF.Sqrt(c);
                // (v·c_out) + (x/c), each operation rounded to float32 as the scalar expression.
                TensorPrimitives.Divide(sample, c, temp);
                TensorPrimitives.Multiply(modelOutput, cOut, destination);
                TensorPrimitives.Add(destination, temp, destination);
                break;
            }
            default: // "sample"; the constructors reject anything else
                modelOutput.CopyTo(destination);
                break;
        }
    }
}
