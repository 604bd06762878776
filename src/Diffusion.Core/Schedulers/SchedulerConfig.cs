namespace Diffusion.Core.Schedulers;

/// <summary>
/// The fields of a diffusers <c>scheduler_config.json</c> that change a scheduler's numbers, with
/// diffusers' defaults. Names follow diffusers (snake_case in JSON, PascalCase here). Each scheduler
/// reads the fields its diffusers class has and ignores the rest.
/// </summary>
public sealed record SchedulerConfig
{
    /// <summary>diffusers class name from <c>_class_name</c>, e.g. <c>PNDMScheduler</c>; informational.</summary>
    public string? ClassName { get; init; }

    /// <summary><c>num_train_timesteps</c>: length of the training noise schedule.</summary>
    public int NumTrainTimesteps { get; init; } = 1000;

    /// <summary><c>beta_start</c>.</summary>
    public float BetaStart { get; init; } = 0.00085f;

    /// <summary><c>beta_end</c>.</summary>
    public float BetaEnd { get; init; } = 0.012f;

    /// <summary><c>beta_schedule</c>: <c>linear</c>, <c>scaled_linear</c> or <c>squaredcos_cap_v2</c>.</summary>
    public string BetaSchedule { get; init; } = "scaled_linear";

    /// <summary><c>trained_betas</c>: explicit betas that replace the schedule when present.</summary>
    public IReadOnlyList<float>? TrainedBetas { get; init; }

    /// <summary><c>rescale_betas_zero_snr</c>: rescale so the last timestep has zero SNR.</summary>
    public bool RescaleBetasZeroSnr { get; init; }

    /// <summary><c>prediction_type</c>: <c>epsilon</c>, <c>v_prediction</c> or <c>sample</c>.</summary>
    public string PredictionType { get; init; } = "epsilon";

    /// <summary><c>timestep_spacing</c>: <c>leading</c>, <c>trailing</c> or <c>linspace</c>.</summary>
    public string TimestepSpacing { get; init; } = "leading";

    /// <summary><c>steps_offset</c>: added to leading-spaced timesteps (SD 1.x uses 1).</summary>
    public int StepsOffset { get; init; }

    /// <summary><c>set_alpha_to_one</c> (DDIM, PNDM): the "previous" alpha at the last step is 1 instead of alphas_cumprod[0].</summary>
    public bool SetAlphaToOne { get; init; } = true;

    /// <summary><c>skip_prk_steps</c> (PNDM).</summary>
    public bool SkipPrkSteps { get; init; }

    /// <summary><c>clip_sample</c>: clamp the predicted x0 to ±<see cref="ClipSampleRange"/>.</summary>
    public bool ClipSample { get; init; }

    /// <summary><c>clip_sample_range</c>.</summary>
    public float ClipSampleRange { get; init; } = 1f;

    /// <summary><c>thresholding</c>: dynamic thresholding of the predicted x0 (Imagen).</summary>
    public bool Thresholding { get; init; }

    /// <summary><c>dynamic_thresholding_ratio</c>.</summary>
    public float DynamicThresholdingRatio { get; init; } = 0.995f;

    /// <summary><c>sample_max_value</c>.</summary>
    public float SampleMaxValue { get; init; } = 1f;

    /// <summary><c>use_karras_sigmas</c>.</summary>
    public bool UseKarrasSigmas { get; init; }

    /// <summary><c>use_exponential_sigmas</c>.</summary>
    public bool UseExponentialSigmas { get; init; }

    /// <summary><c>use_beta_sigmas</c>.</summary>
    public bool UseBetaSigmas { get; init; }

    /// <summary><c>timestep_type</c> (Euler): <c>discrete</c> or <c>continuous</c>.</summary>
    public string TimestepType { get; init; } = "discrete";

    /// <summary><c>interpolation_type</c> (Euler): <c>linear</c> or <c>log_linear</c>.</summary>
    public string InterpolationType { get; init; } = "linear";

    /// <summary><c>final_sigmas_type</c>: <c>zero</c> or <c>sigma_min</c>.</summary>
    public string? FinalSigmasType { get; init; }

    /// <summary><c>solver_order</c> (DPM-Solver, UniPC).</summary>
    public int SolverOrder { get; init; } = 2;

    /// <summary><c>algorithm_type</c> (DPM-Solver): <c>dpmsolver++</c>, <c>sde-dpmsolver++</c>, <c>dpmsolver</c>, <c>sde-dpmsolver</c>.</summary>
    public string AlgorithmType { get; init; } = "dpmsolver++";

    /// <summary><c>solver_type</c> (DPM-Solver): <c>midpoint</c> or <c>heun</c>.</summary>
    public string SolverType { get; init; } = "midpoint";

    /// <summary><c>lower_order_final</c>.</summary>
    public bool LowerOrderFinal { get; init; } = true;

    /// <summary><c>euler_at_final</c> (DPM-Solver).</summary>
    public bool EulerAtFinal { get; init; }

    /// <summary><c>lambda_min_clipped</c> (DPM-Solver).</summary>
    public float LambdaMinClipped { get; init; } = float.NegativeInfinity;

    /// <summary><c>variance_type</c> (DDPM, DPM-Solver): e.g. <c>fixed_small</c>, <c>learned_range</c>.</summary>
    public string? VarianceType { get; init; }

    /// <summary><c>eta</c> for DDIM (0 = deterministic DDIM); not a diffusers config field but a <c>step</c> argument there.</summary>
    public float Eta { get; init; }

    /// <summary>Fields of the JSON that no scheduler reads; reported by the loader, kept for round trips.</summary>
    public IReadOnlyDictionary<string, string> UnknownFields { get; init; } = new Dictionary<string, string>();
}
