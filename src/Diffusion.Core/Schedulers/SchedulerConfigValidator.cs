namespace Diffusion.Core.Schedulers;

/// <summary>
/// The checks a <see cref="SchedulerConfig"/> passes before any scheduler is built from it, whether it came from a
/// <c>scheduler_config.json</c> (<see cref="SchedulerConfigJsonReader"/>) or from code: enumerations, ranges, mutually
/// exclusive flags, each failure an <see cref="InvalidOptionException"/> naming the key.
/// </summary>
internal static class SchedulerConfigValidator
{
    /// <summary>
    /// Checks the values every scheduler depends on (enumerations, ranges, mutually exclusive flags);
    /// <paramref name="prefix"/> is prepended to the key in <see cref="InvalidOptionException.OptionName"/>.
    /// </summary>
    public static void Validate(SchedulerConfig config, string prefix = SchedulerConfigJsonReader.DefaultSource + ": ")
    {
        // At least 2 (the sigma interpolation needs two neighbours); at most MaxTrainTimesteps, checked before the
        // schedule's arrays are allocated (models use 1000).
        if (config.NumTrainTimesteps < 2 || config.NumTrainTimesteps > SchedulerConfig.MaxTrainTimesteps)
            throw new InvalidOptionException(prefix + "num_train_timesteps", $"must be between 2 and {SchedulerConfig.MaxTrainTimesteps}, got {config.NumTrainTimesteps}.");
        RequireFinite(config.BetaStart, prefix + "beta_start");
        RequireFinite(config.BetaEnd, prefix + "beta_end");
        if (config.TrainedBetas is null)
        {
            RequireOneOf(config.BetaSchedule, prefix + "beta_schedule", "linear", "scaled_linear", "squaredcos_cap_v2");
            if (config.BetaSchedule != "squaredcos_cap_v2" && (config.BetaStart < 0 || config.BetaEnd < 0 || config.BetaStart >= 1 || config.BetaEnd >= 1))
                throw new InvalidOptionException(prefix + "beta_start", $"beta_start and beta_end must lie in [0, 1), got {config.BetaStart} and {config.BetaEnd}.");
            // An inverted range makes noise fall over training time: diffusers accepts it and denoises into garbage.
            if (config.BetaSchedule != "squaredcos_cap_v2" && config.BetaStart > config.BetaEnd)
                throw new InvalidOptionException(prefix + "beta_start", $"beta_start ({config.BetaStart}) is larger than beta_end ({config.BetaEnd}); the noise schedule must not decrease (were they swapped?).");
        }
        else
        {
            if (config.TrainedBetas.Count != config.NumTrainTimesteps)
                throw new InvalidOptionException(prefix + "trained_betas", $"has {config.TrainedBetas.Count} values but num_train_timesteps is {config.NumTrainTimesteps}.");
            for (int i = 0; i < config.TrainedBetas.Count; i++)
            {
                float beta = config.TrainedBetas[i];
                if (!(beta >= 0f && beta < 1f))
                    throw new InvalidOptionException(prefix + "trained_betas", $"value {i} is {beta}; betas must lie in [0, 1).");
            }
        }
        RequireOneOf(config.PredictionType, prefix + "prediction_type", "epsilon", "v_prediction", "sample", "flow_prediction");
        RequireOneOf(config.TimestepSpacing, prefix + "timestep_spacing", "leading", "trailing", "linspace");
        if (config.StepsOffset < 0)
            throw new InvalidOptionException(prefix + "steps_offset", $"must not be negative, got {config.StepsOffset}.");
        if (!(config.ClipSampleRange > 0f))
            throw new InvalidOptionException(prefix + "clip_sample_range", $"must be positive, got {config.ClipSampleRange}.");
        if (!(config.DynamicThresholdingRatio >= 0f && config.DynamicThresholdingRatio <= 1f))
            throw new InvalidOptionException(prefix + "dynamic_thresholding_ratio", $"must lie in [0, 1] (a quantile), got {config.DynamicThresholdingRatio}.");
        if (!(config.SampleMaxValue > 0f))
            throw new InvalidOptionException(prefix + "sample_max_value", $"must be positive, got {config.SampleMaxValue}.");
        int sigmaKinds = (config.UseKarrasSigmas ? 1 : 0) + (config.UseExponentialSigmas ? 1 : 0) + (config.UseBetaSigmas ? 1 : 0);
        if (sigmaKinds > 1)
            throw new InvalidOptionException(prefix + "use_karras_sigmas", "only one of use_karras_sigmas, use_exponential_sigmas and use_beta_sigmas may be true.");
        if (config.SigmaMin is double sigmaMin && !(sigmaMin > 0 && double.IsFinite(sigmaMin)))
            throw new InvalidOptionException(prefix + "sigma_min", $"must be positive and finite, got {sigmaMin}.");
        if (config.SigmaMax is double sigmaMax && !(sigmaMax > 0 && double.IsFinite(sigmaMax)))
            throw new InvalidOptionException(prefix + "sigma_max", $"must be positive and finite, got {sigmaMax}.");
        RequireOneOf(config.TimestepType, prefix + "timestep_type", "discrete", "continuous");
        RequireOneOf(config.InterpolationType, prefix + "interpolation_type", "linear", "log_linear");
        if (config.FinalSigmasType is not null)
            RequireOneOf(config.FinalSigmasType, prefix + "final_sigmas_type", "zero", "sigma_min");
        if (config.SolverOrder is < 1 or > 3)
            throw new InvalidOptionException(prefix + "solver_order", $"must be 1, 2 or 3, got {config.SolverOrder}.");
        if (!(config.Eta >= 0f && float.IsFinite(config.Eta)))
            throw new InvalidOptionException(prefix + "eta", $"must be a finite value >= 0, got {config.Eta}.");
        if (config.OriginalInferenceSteps < 1)
            throw new InvalidOptionException(prefix + "original_inference_steps", $"must be at least 1, got {config.OriginalInferenceSteps}.");
        ValidateFlowMatching(config, prefix);
    }

    /// <summary>The flow-matching fields (their defaults pass, so configs of other classes are unaffected).</summary>
    private static void ValidateFlowMatching(SchedulerConfig config, string prefix)
    {
        if (!(config.Shift > 0 && double.IsFinite(config.Shift)))
            throw new InvalidOptionException(prefix + "shift", $"must be positive and finite, got {config.Shift}.");
        RequireFinite(config.BaseShift, prefix + "base_shift");
        RequireFinite(config.MaxShift, prefix + "max_shift");
        if (config.BaseImageSeqLen < 1)
            throw new InvalidOptionException(prefix + "base_image_seq_len", $"must be at least 1, got {config.BaseImageSeqLen}.");
        // calculate_shift divides by their difference.
        if (config.MaxImageSeqLen <= config.BaseImageSeqLen)
            throw new InvalidOptionException(prefix + "max_image_seq_len", $"must be larger than base_image_seq_len ({config.BaseImageSeqLen}), got {config.MaxImageSeqLen}.");
        // Stretching to a terminal of 1 (or more) divides by zero or flips the schedule; 0 means "off" in diffusers.
        if (config.ShiftTerminal is double terminal && terminal != 0 && !(terminal > 0 && terminal < 1))
            throw new InvalidOptionException(prefix + "shift_terminal", $"must lie in (0, 1) (the last sigma of the stretched schedule), got {terminal}.");
        RequireOneOf(config.TimeShiftType, prefix + "time_shift_type", "exponential", "linear");
    }

    private static void RequireFinite(double value, string option)
    {
        if (!double.IsFinite(value))
            throw new InvalidOptionException(option, $"must be a finite number, got {value}.");
    }

    private static void RequireOneOf(string? value, string option, params string[] allowed)
    {
        foreach (string candidate in allowed)
        {
            if (string.Equals(value, candidate, StringComparison.Ordinal))
                return;
        }
        throw new InvalidOptionException(option, $"'{value}' is not supported; expected one of: {string.Join(", ", allowed)}.");
    }
}
