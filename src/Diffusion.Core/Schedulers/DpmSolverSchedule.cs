namespace Diffusion.Core.Schedulers;

/// <summary>
/// The <c>set_timesteps</c> logic diffusers' DPM-Solver family shares (<c>DPMSolverMultistepScheduler</c>,
/// <c>DPMSolverSinglestepScheduler</c>, <c>UniPCMultistepScheduler</c>): timesteps spaced over
/// <c>[0, last_timestep)</c> (the end cut by <c>lambda_min_clipped</c>), then sigmas interpolated at those
/// timesteps or replaced by a Karras / exponential / beta / Lu-lambda schedule, plus the final sigma.
/// </summary>
/// <remarks>
/// The spacing differs from the Euler/DDIM one in <see cref="NoiseSchedule.SpacedTimesteps"/>: <c>linspace</c>
/// and <c>leading</c> lay out <c>steps + 1</c> points and drop the last (diffusers' <c>[::-1][:-1]</c>).
/// Arithmetic follows numpy: float64 spacing, round half to even, float64 sigma interpolation of the float32
/// training sigmas, one rounding to float32 at the end.
/// </remarks>
internal sealed class DpmSolverSchedule
{
    private readonly SchedulerConfig _config;
    private readonly float[] _alphasCumprod;
    private readonly float[] _sigmas;
    private readonly float[] _logSigmas;

    /// <summary>
    /// Takes the training schedule; with <c>rescale_betas_zero_snr</c> the last ᾱ is replaced by 2⁻²⁴ (as these
    /// diffusers classes do, so σ stays finite) before sigmas and log-sigmas are derived.
    /// </summary>
    internal DpmSolverSchedule(NoiseSchedule schedule, SchedulerConfig config)
    {
        _config = config;
        _alphasCumprod = schedule.AlphasCumprod.ToArray();
        _sigmas = schedule.Sigmas.ToArray();
        _logSigmas = schedule.LogSigmas.ToArray();
        if (config.RescaleBetasZeroSnr)
        {
            int last = _alphasCumprod.Length - 1;
            float acp = 1f / (1 << 24);
            _alphasCumprod[last] = acp;
            _sigmas[last] = MathF.Sqrt((1f - acp) / acp);
            _logSigmas[last] = (float)Math.Log(_sigmas[last]);
        }
    }

    /// <summary>ᾱ_t (patched for zero SNR).</summary>
    internal ReadOnlySpan<float> AlphasCumprod => _alphasCumprod;

    /// <summary>Training σ_t, ascending (patched for zero SNR).</summary>
    internal ReadOnlySpan<float> TrainSigmas => _sigmas;

    /// <summary>Which sigma schedule replaces the interpolated training sigmas.</summary>
    internal enum SigmaKind
    {
        Interpolated,
        Karras,
        Exponential,
        Beta,
        LuLambdas,
    }

    /// <summary>The kind <paramref name="config"/> selects (one of the use_*_sigmas flags, or none); <c>use_lu_lambdas</c> only where <paramref name="supportsLuLambdas"/>.</summary>
    internal static SigmaKind KindOf(SchedulerConfig config, bool supportsLuLambdas)
    {
        if (config.UseFlowSigmas)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": use_flow_sigmas", "flow-matching sigmas are not supported by the DPM-Solver/UniPC schedulers here.");
        }

        // Only the multistep class has use_lu_lambdas; the others ignore the key, as diffusers' from_config does.
        return config.UseKarrasSigmas ? SigmaKind.Karras
            : config.UseLuLambdas && supportsLuLambdas ? SigmaKind.LuLambdas
            : config.UseExponentialSigmas ? SigmaKind.Exponential
            : config.UseBetaSigmas ? SigmaKind.Beta
            : SigmaKind.Interpolated;
    }

    /// <summary>
    /// Computes timesteps (integers, as float) and sigmas (length timesteps + 1, float32) for
    /// <paramref name="steps"/> inference steps.
    /// </summary>
    /// <param name="steps">Requested number of steps.</param>
    /// <param name="kind">The sigma schedule.</param>
    /// <param name="finalSigmaZero">True for <c>final_sigmas_type = zero</c>, false for <c>sigma_min</c>.</param>
    /// <param name="sigmas">Receives the sigmas.</param>
    /// <param name="alwaysRoundKarras">
    /// Round Karras timesteps even for <c>squaredcos_cap_v2</c> (the singlestep scheduler does; the others truncate there).
    /// </param>
    /// <param name="uniPcConventions">
    /// UniPC's variant: Karras timesteps always rounded, <c>sigma_min</c>/<c>sigma_max</c> from the config bound the
    /// Karras/exponential/beta schedules, and a <c>sigma_min</c> final sigma repeats the last step's sigma for those
    /// schedules (the interpolated schedule still ends at the training σ_min).
    /// </param>
    internal float[] Compute(int steps, SigmaKind kind, bool finalSigmaZero, out float[] sigmas, bool alwaysRoundKarras = false, bool uniPcConventions = false)
    {
        SchedulerConfig config = _config;
        int trainSteps = _sigmas.Length;
        int lastTimestep = trainSteps - ClippedCount(_alphasCumprod, config.LambdaMinClipped);
        double[] timesteps = SpacedTimesteps(config.TimestepSpacing, trainSteps, lastTimestep, steps, config.StepsOffset);

        ReadOnlySpan<float> trainSigmas = _sigmas;
        double[] stepSigmas;
        bool round = alwaysRoundKarras || uniPcConventions || config.BetaSchedule != "squaredcos_cap_v2";
        double sigmaMin = trainSigmas[0];
        double sigmaMax = _sigmas[trainSteps - 1];
        if (uniPcConventions)
        {
            sigmaMin = config.SigmaMin ?? sigmaMin;
            sigmaMax = config.SigmaMax ?? sigmaMax;
        }
        switch (kind)
        {
            case SigmaKind.Karras:
                stepSigmas = NoiseSchedule.KarrasSigmas(sigmaMin, sigmaMax, steps);
                timesteps = TimestepsOf(stepSigmas, round);
                break;
            case SigmaKind.Exponential:
                stepSigmas = NoiseSchedule.ExponentialSigmas(sigmaMin, sigmaMax, steps);
                timesteps = TimestepsOf(stepSigmas, round: false);
                break;
            case SigmaKind.Beta:
                stepSigmas = NoiseSchedule.BetaSigmas(sigmaMin, sigmaMax, steps);
                timesteps = TimestepsOf(stepSigmas, round: false);
                break;
            case SigmaKind.LuLambdas:
            {
                // Uniform in log-sigma between the ends of the training schedule (rho = 1).
                double lambdaMin = _logSigmas[0];
                double lambdaMax = _logSigmas[trainSteps - 1];
                double[] ramp = NoiseSchedule.NumpyLinspace(0, 1, steps);
                stepSigmas = new double[steps];
                for (int i = 0; i < steps; i++)
                {
                    stepSigmas[i] = Math.Exp(lambdaMax + (ramp[i] * (lambdaMin - lambdaMax)));
                }

                timesteps = TimestepsOf(stepSigmas, round);
                break;
            }

            default:
                stepSigmas = new double[timesteps.Length];
                for (int i = 0; i < timesteps.Length; i++)
                {
                    stepSigmas[i] = NoiseSchedule.InterpolateAtTimestep(trainSigmas, timesteps[i]);
                }

                break;
        }

        sigmas = new float[stepSigmas.Length + 1];
        for (int i = 0; i < stepSigmas.Length; i++)
        {
            sigmas[i] = (float)stepSigmas[i];
        }

        sigmas[^1] = finalSigmaZero ? 0f
            : uniPcConventions && kind != SigmaKind.Interpolated ? sigmas[^2]
            : trainSigmas[0];

        // torch.from_numpy(timesteps).to(int64): float timesteps truncate toward zero.
        var result = new float[timesteps.Length];
        for (int i = 0; i < timesteps.Length; i++)
        {
            result[i] = (long)timesteps[i];
        }

        return result;
    }

    /// <summary>
    /// <c>torch.searchsorted(torch.flip(lambda_t), lambda_min_clipped)</c>: how many training timesteps at the noisy
    /// end have log-SNR λ = log α - log σ below the clip (float32, as the torch tensors).
    /// </summary>
    internal static int ClippedCount(ReadOnlySpan<float> alphasCumprod, float lambdaMinClipped)
    {
        if (float.IsNegativeInfinity(lambdaMinClipped))
        {
            return 0;
        }

        int count = 0;
        for (int t = alphasCumprod.Length - 1; t >= 0; t--)
        {
            float lambda = MathF.Log(MathF.Sqrt(alphasCumprod[t])) - MathF.Log(MathF.Sqrt(1f - alphasCumprod[t]));
            if (!(lambda < lambdaMinClipped))
            {
                break;
            }

            count++;
        }

        return count;
    }

    /// <summary>The DPM-Solver family's timestep spacing, descending, before the sigma schedule (float64 integers).</summary>
    internal static double[] SpacedTimesteps(string spacing, int trainSteps, int lastTimestep, int steps, int stepsOffset)
    {
        switch (spacing)
        {
            case "linspace":
            {
                // np.linspace(0, last - 1, steps + 1).round()[::-1][:-1]
                double[] points = NoiseSchedule.NumpyLinspace(0, lastTimestep - 1, steps + 1);
                var t = new double[steps];
                for (int i = 0; i < steps; i++)
                {
                    t[i] = Math.Round(points[steps - i], MidpointRounding.ToEven);
                }

                return t;
            }

            case "leading":
            {
                // (np.arange(0, steps + 1) * (last // (steps + 1)))[::-1][:-1] + steps_offset
                int ratio = lastTimestep / (steps + 1);
                var t = new double[steps];
                for (int i = 0; i < steps; i++)
                {
                    t[i] = ((double)(steps - i) * ratio) + stepsOffset;
                }

                return t;
            }

            case "trailing":
            {
                // np.arange(last, 0, -N / steps).round() - 1; numpy fills start, start + step, then start + i*delta.
                double ratio = (double)trainSteps / steps;
                double start = lastTimestep;
                double delta = (start + -ratio) - start;
                int length = (int)Math.Ceiling((0 - start) / -ratio);
                var t = new double[length];
                for (int i = 0; i < length; i++)
                {
                    double value = i == 0 ? start : i == 1 ? start + -ratio : start + (i * delta);
                    t[i] = Math.Round(value, MidpointRounding.ToEven) - 1;
                }

                return t;
            }

            default:
                throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": timestep_spacing",
                    $"'{spacing}' is not supported; expected linspace, leading or trailing.");
        }
    }

    private double[] TimestepsOf(double[] sigmas, bool round)
    {
        var timesteps = new double[sigmas.Length];
        for (int i = 0; i < sigmas.Length; i++)
        {
            double t = NoiseSchedule.SigmaToTimestep(_logSigmas, sigmas[i]);
            timesteps[i] = round ? Math.Round(t, MidpointRounding.ToEven) : t;
        }

        return timesteps;
    }
}
