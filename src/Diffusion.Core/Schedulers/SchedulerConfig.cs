using Microsoft.Extensions.Logging;

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

    /// <summary><c>beta_start</c>; a double because diffusers takes its square root in float64 before rounding to float32.</summary>
    public double BetaStart { get; init; } = 0.00085;

    /// <summary><c>beta_end</c>; a double for the same reason as <see cref="BetaStart"/>.</summary>
    public double BetaEnd { get; init; } = 0.012;

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

    /// <summary><c>sigma_min</c> (Euler, DPM-Solver): lower end of Karras/exponential/beta sigmas; null = the schedule's smallest sigma.</summary>
    public double? SigmaMin { get; init; }

    /// <summary><c>sigma_max</c> (Euler, DPM-Solver): upper end of Karras/exponential/beta sigmas; null = the schedule's largest sigma.</summary>
    public double? SigmaMax { get; init; }

    /// <summary><c>use_lu_lambdas</c> (DPM-Solver).</summary>
    public bool UseLuLambdas { get; init; }

    /// <summary><c>use_flow_sigmas</c> (DPM-Solver, UniPC).</summary>
    public bool UseFlowSigmas { get; init; }

    /// <summary><c>flow_shift</c> (DPM-Solver, UniPC).</summary>
    public double FlowShift { get; init; } = 1.0;

    /// <summary><c>predict_x0</c> (UniPC).</summary>
    public bool PredictX0 { get; init; } = true;

    /// <summary><c>disable_corrector</c> (UniPC): step indices at which the corrector is skipped.</summary>
    public IReadOnlyList<int> DisableCorrector { get; init; } = Array.Empty<int>();

    /// <summary><c>original_inference_steps</c> (LCM, TCD).</summary>
    public int OriginalInferenceSteps { get; init; } = 50;

    /// <summary><c>timestep_scaling</c> (LCM, TCD).</summary>
    public double TimestepScaling { get; init; } = 10.0;

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

    /// <summary><c>shift</c> (flow matching): the static timestep shift σ' = s·σ/(1 + (s−1)·σ); SD3/3.5 use 3.</summary>
    public double Shift { get; init; } = 1.0;

    /// <summary><c>use_dynamic_shifting</c> (flow matching): shift by the image size through <c>mu</c> (FLUX.1-dev) instead of <see cref="Shift"/>.</summary>
    public bool UseDynamicShifting { get; init; }

    /// <summary><c>base_shift</c> (flow matching): mu at <see cref="BaseImageSeqLen"/> image tokens.</summary>
    public double BaseShift { get; init; } = 0.5;

    /// <summary><c>max_shift</c> (flow matching): mu at <see cref="MaxImageSeqLen"/> image tokens.</summary>
    public double MaxShift { get; init; } = 1.15;

    /// <summary><c>base_image_seq_len</c> (flow matching).</summary>
    public int BaseImageSeqLen { get; init; } = 256;

    /// <summary><c>max_image_seq_len</c> (flow matching).</summary>
    public int MaxImageSeqLen { get; init; } = 4096;

    /// <summary><c>invert_sigmas</c> (flow matching): σ → 1 − σ, ending at 1 (Mochi).</summary>
    public bool InvertSigmas { get; init; }

    /// <summary><c>shift_terminal</c> (flow matching): stretch the shifted schedule so its last sigma is this value (LTX-Video); null = no stretch.</summary>
    public double? ShiftTerminal { get; init; }

    /// <summary><c>time_shift_type</c> (flow matching): <c>exponential</c> (e^mu/(e^mu + 1/σ − 1)) or <c>linear</c> (mu/(mu + 1/σ − 1)).</summary>
    public string TimeShiftType { get; init; } = "exponential";

    /// <summary><c>stochastic_sampling</c> (flow-matching Euler): re-noise the predicted x0 to the next sigma with fresh noise instead of an Euler step.</summary>
    public bool StochasticSampling { get; init; }

    /// <summary>
    /// The diffusers keys the JSON file set (minus those listed in its <c>_use_default_values</c>), or null for a
    /// config built in code, which counts as fully specified. Schedulers give the fields a file left out their own
    /// diffusers class defaults, as diffusers' <c>from_config</c> does (e.g. Euler uses linspace spacing with an
    /// SD 1.5 file that has no <c>timestep_spacing</c>).
    /// </summary>
    public IReadOnlySet<string>? SpecifiedFields { get; init; }

    /// <summary>
    /// This config with every field that <see cref="SpecifiedFields"/> does not list taken from
    /// <paramref name="classDefaults"/> (diffusers' <c>from_config</c>); unchanged when <see cref="SpecifiedFields"/> is null.
    /// </summary>
    public SchedulerConfig WithDefaultsFrom(SchedulerConfig classDefaults)
    {
        ArgumentNullException.ThrowIfNull(classDefaults);
        return SchedulerConfigJsonReader.WithDefaultsFrom(this, classDefaults);
    }

    /// <summary>The largest <c>num_train_timesteps</c> accepted (100,000; Stable Diffusion models use 1000).</summary>
    public const int MaxTrainTimesteps = 100_000;

    /// <summary>Fields of the JSON that no scheduler reads; reported by the loader, kept for round trips.</summary>
    public IReadOnlyDictionary<string, string> UnknownFields { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Stable Diffusion 1.5's <c>scheduler_config.json</c> (PNDM, scaled_linear 0.00085..0.012, 1000 train steps,
    /// steps_offset 1, set_alpha_to_one false, skip_prk_steps true, epsilon prediction, leading spacing).
    /// </summary>
    public static SchedulerConfig StableDiffusion15 { get; } = new()
    {
        ClassName = "PNDMScheduler",
        NumTrainTimesteps = 1000,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = "scaled_linear",
        ClipSample = false,
        SetAlphaToOne = false,
        SkipPrkSteps = true,
        StepsOffset = 1,
        PredictionType = "epsilon",
        TimestepSpacing = "leading",
    };

    /// <summary>
    /// Reads a diffusers <c>scheduler_config.json</c>. Keys missing from the file hold this record's defaults and are
    /// left out of <see cref="SpecifiedFields"/>, so each scheduler replaces them with its diffusers class defaults;
    /// keys no scheduler reads go to <see cref="UnknownFields"/> and are logged at Information level.
    /// </summary>
    /// <param name="path">The JSON file.</param>
    /// <param name="logger">Receives one Information message per unknown key; null for none.</param>
    /// <exception cref="ModelLoadException">The file cannot be read or is not a JSON object.</exception>
    /// <exception cref="InvalidOptionException">A value has the wrong type or is out of range; the option is named <c>scheduler_config.json: &lt;key&gt;</c>.</exception>
    public static SchedulerConfig FromJsonFile(string path, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ModelLoadException(path, $"cannot read the scheduler config: {e.Message}", e);
        }
        return SchedulerConfigJsonReader.Read(json, path, logger);
    }

    /// <summary>Parses the text of a diffusers <c>scheduler_config.json</c>; see <see cref="FromJsonFile"/>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="sourceName">Where the text came from (a path or a name), used in errors and log messages.</param>
    /// <param name="logger">Receives one Information message per unknown key; null for none.</param>
    /// <exception cref="ModelLoadException">The text is not a JSON object.</exception>
    /// <exception cref="InvalidOptionException">A value has the wrong type or is out of range.</exception>
    public static SchedulerConfig FromJson(string json, string sourceName, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(sourceName);
        return SchedulerConfigJsonReader.Read(json, sourceName, logger);
    }
}
