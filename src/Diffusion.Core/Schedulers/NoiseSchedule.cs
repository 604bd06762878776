namespace Diffusion.Core.Schedulers;

/// <summary>
/// The training noise schedule every scheduler starts from: betas, alphas, their cumulative product and the
/// matching sigmas, computed with the same float32/float64 steps as diffusers (torch float32 tensors,
/// cumulative product accumulated in float64 as torch's CPU <c>cumprod</c> does). Also holds the shared
/// helpers diffusers copies between schedulers: timestep spacing, Karras/exponential/beta sigma schedules and
/// sigma-to-timestep interpolation.
/// </summary>
public sealed class NoiseSchedule
{
    private readonly float[] _betas;
    private readonly float[] _alphas;
    private readonly float[] _alphasCumprod;
    private readonly float[] _sigmas;
    private readonly float[] _logSigmas;

    /// <summary>Builds the schedule of <paramref name="config"/>.</summary>
    /// <exception cref="InvalidOptionException">The config has an unknown <c>beta_schedule</c> or an out-of-range value.</exception>
    public NoiseSchedule(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        SchedulerConfigValidator.Validate(config);
        int n = config.NumTrainTimesteps;
        _betas = config.TrainedBetas is { } trained ? [.. trained] : config.BetaSchedule switch
        {
            "linear" => TorchLinspace((float)config.BetaStart, (float)config.BetaEnd, n),
            "scaled_linear" => Square(TorchLinspace((float)Math.Sqrt(config.BetaStart), (float)Math.Sqrt(config.BetaEnd), n)),
            "squaredcos_cap_v2" => CosineBetas(n),
            _ => throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": beta_schedule", $"'{config.BetaSchedule}' is not supported."),
        };
        if (config.RescaleBetasZeroSnr)
            RescaleZeroTerminalSnr(_betas);

        _alphas = new float[n];
        for (int i = 0; i < n; i++)
            _alphas[i] = 1f - _betas[i];
        _alphasCumprod = new float[n];
        CumulativeProduct(_alphas, _alphasCumprod);

        _sigmas = new float[n];
        _logSigmas = new float[n];
        for (int i = 0; i < n; i++)
        {
            float acp = _alphasCumprod[i];
            _sigmas[i] = MathF.Sqrt((1f - acp) / acp);
            _logSigmas[i] = (float)Math.Log(_sigmas[i]);
        }
    }

    /// <summary>Number of training timesteps (the length of every array here).</summary>
    public int TrainTimesteps => _betas.Length;

    /// <summary>β_t for t = 0..TrainTimesteps-1 (float32, after zero-SNR rescaling when configured).</summary>
    public ReadOnlySpan<float> Betas => _betas;

    /// <summary>α_t = 1 - β_t.</summary>
    public ReadOnlySpan<float> Alphas => _alphas;

    /// <summary>ᾱ_t = ∏ α (diffusers' <c>alphas_cumprod</c>), float32.</summary>
    public ReadOnlySpan<float> AlphasCumprod => _alphasCumprod;

    /// <summary>σ_t = ((1-ᾱ_t)/ᾱ_t)^½ in float32, ascending with t (diffusers' un-flipped sigmas).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <summary>ln σ_t in float32 (diffusers' <c>log_sigmas</c>).</summary>
    public ReadOnlySpan<float> LogSigmas => _logSigmas;

    /// <summary>
    /// <c>torch.linspace(start, end, steps, dtype=float32)</c> as torch 2.x's CPU kernel computes it: step in float32,
    /// the first half <c>start + step·i</c>, the second half <c>end − step·(steps − 1 − i)</c>, each a fused
    /// multiply-add (the kernel is compiled for AVX2/AVX-512 with FMA contraction). Older torch builds (1.13's
    /// vectorised kernel) differ from this by at most one float32 ulp in some entries.
    /// </summary>
    internal static float[] TorchLinspace(float start, float end, int steps)
    {
        var result = new float[steps];
        if (steps == 1)
        {
            result[0] = start;
            return result;
        }
        float step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++)
            result[i] = i < halfway ? MathF.FusedMultiplyAdd(step, i, start) : MathF.FusedMultiplyAdd(-step, steps - i - 1, end);
        return result;
    }

    /// <summary><c>np.linspace(start, stop, num)</c> in float64: <c>i*step + start</c>, last value exactly <paramref name="stop"/>.</summary>
    internal static double[] NumpyLinspace(double start, double stop, int num)
    {
        var result = new double[num];
        if (num == 1)
        {
            result[0] = start;
            return result;
        }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++)
            result[i] = i * step + start;
        result[num - 1] = stop;
        return result;
    }

    private static float[] Square(float[] values)
    {
        for (int i = 0; i < values.Length; i++)
            values[i] *= values[i];
        return values;
    }

    /// <summary>diffusers' <c>betas_for_alpha_bar</c> with the cosine transform (float64, then float32).</summary>
    private static float[] CosineBetas(int n)
    {
        const double maxBeta = 0.999;
        static double AlphaBar(double t)
        {
            double c = Math.Cos((t + 0.008) / 1.008 * Math.PI / 2);
            return c * c;
        }
        var betas = new float[n];
        for (int i = 0; i < n; i++)
        {
            double t1 = (double)i / n;
            double t2 = (double)(i + 1) / n;
            betas[i] = (float)Math.Min(1 - AlphaBar(t2) / AlphaBar(t1), maxBeta);
        }
        return betas;
    }

    /// <summary>torch's CPU <c>cumprod</c> on float32: accumulated in float64, each prefix rounded to float32.</summary>
    private static void CumulativeProduct(ReadOnlySpan<float> values, Span<float> destination)
    {
        double product = 1.0;
        for (int i = 0; i < values.Length; i++)
        {
            product *= values[i];
            destination[i] = (float)product;
        }
    }

    /// <summary>diffusers' <c>rescale_zero_terminal_snr</c> (arXiv 2305.08891, Algorithm 1) in float32, in place.</summary>
    private static void RescaleZeroTerminalSnr(float[] betas)
    {
        int n = betas.Length;
        var sqrtCumprod = new float[n];
        for (int i = 0; i < n; i++)
            sqrtCumprod[i] = 1f - betas[i];
        CumulativeProduct(sqrtCumprod, sqrtCumprod);
        for (int i = 0; i < n; i++)
            sqrtCumprod[i] = MathF.Sqrt(sqrtCumprod[i]);
        float first = sqrtCumprod[0];
        float last = sqrtCumprod[n - 1];
        float scale = first / (first - last);
        for (int i = 0; i < n; i++)
        {
            float shifted = (sqrtCumprod[i] - last) * scale;
            sqrtCumprod[i] = shifted * shifted; // now ᾱ
        }
        betas[0] = 1f - sqrtCumprod[0];
        for (int i = n - 1; i >= 1; i--)
            betas[i] = 1f - sqrtCumprod[i] / sqrtCumprod[i - 1];
    }

    /// <summary>
    /// The inference timesteps diffusers' <c>set_timesteps</c> computes for <paramref name="spacing"/>, descending,
    /// in float64 before each scheduler's own rounding/casting: <c>linspace</c> = np.linspace(0, N-1, steps)
    /// (unrounded), <c>leading</c> = arange(steps)·(N // steps) + steps_offset, <c>trailing</c> =
    /// round(arange(N, 0, -N/steps)) - 1. The trailing length follows numpy's arange and may differ from
    /// <paramref name="steps"/> exactly where numpy's does.
    /// </summary>
    internal static double[] SpacedTimesteps(string spacing, int trainTimesteps, int steps, int stepsOffset)
    {
        switch (spacing)
        {
            case "linspace":
            {
                double[] t = NumpyLinspace(0, trainTimesteps - 1, steps);
                Array.Reverse(t);
                return t;
            }
            case "leading":
            {
                int stepRatio = trainTimesteps / steps;
                var t = new double[steps];
                for (int i = 0; i < steps; i++)
                    t[i] = (double)(steps - 1 - i) * stepRatio + stepsOffset;
                return t;
            }
            case "trailing":
            {
                // np.arange(N, 0, -ratio): length ceil((0 - N) / -ratio); values start + i*delta with
                // delta = (start + step) - start, as numpy's fill does.
                double ratio = (double)trainTimesteps / steps;
                double start = trainTimesteps;
                double delta = (start + -ratio) - start;
                int length = (int)Math.Ceiling((0 - start) / -ratio);
                var t = new double[length];
                for (int i = 0; i < length; i++)
                {
                    double value = i == 0 ? start : i == 1 ? start + -ratio : start + i * delta;
                    t[i] = Math.Round(value, MidpointRounding.ToEven) - 1;
                }
                return t;
            }
            default:
                throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": timestep_spacing", $"'{spacing}' is not supported; expected leading, trailing or linspace.");
        }
    }

    /// <summary><c>np.interp(x, arange(len(fp)), fp)</c> for ascending integer abscissae, in float64.</summary>
    internal static double InterpolateAtTimestep(ReadOnlySpan<float> values, double t)
    {
        if (t <= 0)
            return values[0];
        int last = values.Length - 1;
        if (t >= last)
            return values[last];
        int low = (int)Math.Floor(t);
        double fraction = t - low;
        double slope = ((double)values[low + 1] - values[low]) / 1.0;
        // numpy: slope*(x - xp[j]) + fp[j]; when x lands on a grid point it returns fp[j] exactly.
        return fraction == 0 ? values[low] : slope * fraction + values[low];
    }

    /// <summary>
    /// diffusers' <c>_sigma_to_t</c>: the (fractional) training timestep whose log-sigma matches
    /// <paramref name="sigma"/>, interpolating linearly in log-sigma between neighbours, with numpy 2's dtypes
    /// (float64 except the float32 table differences; numpy 1.x kept more of it in float32, ~1e-7 apart).
    /// </summary>
    internal double SigmaToTimestep(double sigma) => SigmaToTimestep(_logSigmas, sigma);

    /// <summary><c>_sigma_to_t</c> against an explicit ascending <paramref name="logSigmas"/> table.</summary>
    internal static double SigmaToTimestep(ReadOnlySpan<float> logSigmas, double sigma)
    {
        double logSigma = Math.Log(Math.Max(sigma, 1e-10));
        // Last index whose log-sigma is <= logSigma (0 when there is none), clipped so low+1 exists.
        int low = 0;
        for (int j = 0; j < logSigmas.Length; j++)
        {
            if (logSigma - logSigmas[j] >= 0)
                low = j;
        }
        low = Math.Min(low, logSigmas.Length - 2);
        int high = low + 1;
        double lowLog = logSigmas[low];
        // numpy (NEP 50 promotion): low - log_sigma is float64, low - high stays a float32 subtraction.
        float gap = logSigmas[low] - logSigmas[high];
        double w = (lowLog - logSigma) / gap;
        w = Math.Clamp(w, 0, 1); // NaN stays NaN, as np.clip
        return (1 - w) * low + w * high;
    }

    /// <summary>
    /// <c>_sigma_to_t</c> as it runs when diffusers passes torch float32 tensors (KDPM2's interpolated sigmas): every
    /// intermediate is a float32 tensor, so the result is computed in float32 throughout.
    /// </summary>
    internal static float SigmaToTimestepSingle(ReadOnlySpan<float> logSigmas, float sigma)
    {
        float logSigma = (float)Math.Log(Math.Max(sigma, 1e-10f));
        int low = 0;
        for (int j = 0; j < logSigmas.Length; j++)
        {
            if (logSigma - logSigmas[j] >= 0f)
                low = j;
        }
        low = Math.Min(low, logSigmas.Length - 2);
        int high = low + 1;
        float lowLog = logSigmas[low];
        float highLog = logSigmas[high];
        float w = (lowLog - logSigma) / (lowLog - highLog);
        w = Math.Clamp(w, 0f, 1f);
        return (1f - w) * low + w * high;
    }

    /// <summary>Natural logs of <paramref name="sigmas"/> rounded to float32 (numpy's <c>np.log</c> on a float32 array).</summary>
    internal static float[] LogOf(ReadOnlySpan<float> sigmas)
    {
        var result = new float[sigmas.Length];
        for (int i = 0; i < sigmas.Length; i++)
            result[i] = (float)Math.Log(sigmas[i]);
        return result;
    }

    /// <summary>Karras et al. (2022) sigmas: ρ=7 interpolation between σ_max^(1/ρ) and σ_min^(1/ρ), float64.</summary>
    internal static double[] KarrasSigmas(double sigmaMin, double sigmaMax, int steps)
    {
        const double rho = 7.0;
        double[] ramp = NumpyLinspace(0, 1, steps);
        double minInvRho = Math.Pow(sigmaMin, 1 / rho);
        double maxInvRho = Math.Pow(sigmaMax, 1 / rho);
        var sigmas = new double[steps];
        for (int i = 0; i < steps; i++)
            sigmas[i] = Math.Pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), rho);
        return sigmas;
    }

    /// <summary>Exponential sigmas: exp(linspace(ln σ_max, ln σ_min, steps)), float64.</summary>
    internal static double[] ExponentialSigmas(double sigmaMin, double sigmaMax, int steps)
    {
        double[] sigmas = NumpyLinspace(Math.Log(sigmaMax), Math.Log(sigmaMin), steps);
        for (int i = 0; i < steps; i++)
            sigmas[i] = Math.Exp(sigmas[i]);
        return sigmas;
    }

    /// <summary>
    /// "Beta Sampling is All You Need" sigmas: σ_min + ppf(1 - linspace(0,1,steps)[i]; α, β)·(σ_max - σ_min) with
    /// ppf the Beta(α, β) quantile (diffusers uses α = β = 0.6 through scipy.stats.beta.ppf), float64.
    /// </summary>
    internal static double[] BetaSigmas(double sigmaMin, double sigmaMax, int steps, double alpha = 0.6, double beta = 0.6)
    {
        double[] ramp = NumpyLinspace(0, 1, steps);
        var sigmas = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            double ppf = IncompleteBeta.InverseRegularized(1 - ramp[i], alpha, beta);
            sigmas[i] = sigmaMin + ppf * (sigmaMax - sigmaMin);
        }
        return sigmas;
    }
}
