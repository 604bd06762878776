using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Turns the text of a diffusers <c>scheduler_config.json</c> into a <see cref="SchedulerConfig"/> and checks
/// every value a scheduler relies on, so bad files fail at load time with the key named.
/// </summary>
internal static class SchedulerConfigJsonReader
{
    /// <summary>The option-name prefix used for configs that did not come from a file.</summary>
    internal const string DefaultSource = "scheduler_config.json";

    private const string UnknownKeyMessage = "{Source}: scheduler config field '{Key}' is not used by any scheduler; ignored";

    /// <summary>For each diffusers config key this library reads: copy that field from a source config (used for class defaults).</summary>
    private static readonly Dictionary<string, Func<SchedulerConfig, SchedulerConfig, SchedulerConfig>> s_fieldCopiers = new(StringComparer.Ordinal)
    {
        ["num_train_timesteps"] = static (target, source) => target with { NumTrainTimesteps = source.NumTrainTimesteps },
        ["beta_start"] = static (target, source) => target with { BetaStart = source.BetaStart },
        ["beta_end"] = static (target, source) => target with { BetaEnd = source.BetaEnd },
        ["beta_schedule"] = static (target, source) => target with { BetaSchedule = source.BetaSchedule },
        ["trained_betas"] = static (target, source) => target with { TrainedBetas = source.TrainedBetas },
        ["rescale_betas_zero_snr"] = static (target, source) => target with { RescaleBetasZeroSnr = source.RescaleBetasZeroSnr },
        ["prediction_type"] = static (target, source) => target with { PredictionType = source.PredictionType },
        ["timestep_spacing"] = static (target, source) => target with { TimestepSpacing = source.TimestepSpacing },
        ["steps_offset"] = static (target, source) => target with { StepsOffset = source.StepsOffset },
        ["set_alpha_to_one"] = static (target, source) => target with { SetAlphaToOne = source.SetAlphaToOne },
        ["skip_prk_steps"] = static (target, source) => target with { SkipPrkSteps = source.SkipPrkSteps },
        ["clip_sample"] = static (target, source) => target with { ClipSample = source.ClipSample },
        ["clip_sample_range"] = static (target, source) => target with { ClipSampleRange = source.ClipSampleRange },
        ["thresholding"] = static (target, source) => target with { Thresholding = source.Thresholding },
        ["dynamic_thresholding_ratio"] = static (target, source) => target with { DynamicThresholdingRatio = source.DynamicThresholdingRatio },
        ["sample_max_value"] = static (target, source) => target with { SampleMaxValue = source.SampleMaxValue },
        ["use_karras_sigmas"] = static (target, source) => target with { UseKarrasSigmas = source.UseKarrasSigmas },
        ["use_exponential_sigmas"] = static (target, source) => target with { UseExponentialSigmas = source.UseExponentialSigmas },
        ["use_beta_sigmas"] = static (target, source) => target with { UseBetaSigmas = source.UseBetaSigmas },
        ["sigma_min"] = static (target, source) => target with { SigmaMin = source.SigmaMin },
        ["sigma_max"] = static (target, source) => target with { SigmaMax = source.SigmaMax },
        ["timestep_type"] = static (target, source) => target with { TimestepType = source.TimestepType },
        ["interpolation_type"] = static (target, source) => target with { InterpolationType = source.InterpolationType },
        ["final_sigmas_type"] = static (target, source) => target with { FinalSigmasType = source.FinalSigmasType },
        ["solver_order"] = static (target, source) => target with { SolverOrder = source.SolverOrder },
        ["algorithm_type"] = static (target, source) => target with { AlgorithmType = source.AlgorithmType },
        ["solver_type"] = static (target, source) => target with { SolverType = source.SolverType },
        ["lower_order_final"] = static (target, source) => target with { LowerOrderFinal = source.LowerOrderFinal },
        ["euler_at_final"] = static (target, source) => target with { EulerAtFinal = source.EulerAtFinal },
        ["lambda_min_clipped"] = static (target, source) => target with { LambdaMinClipped = source.LambdaMinClipped },
        ["variance_type"] = static (target, source) => target with { VarianceType = source.VarianceType },
        ["use_lu_lambdas"] = static (target, source) => target with { UseLuLambdas = source.UseLuLambdas },
        ["use_flow_sigmas"] = static (target, source) => target with { UseFlowSigmas = source.UseFlowSigmas },
        ["flow_shift"] = static (target, source) => target with { FlowShift = source.FlowShift },
        ["predict_x0"] = static (target, source) => target with { PredictX0 = source.PredictX0 },
        ["disable_corrector"] = static (target, source) => target with { DisableCorrector = source.DisableCorrector },
        ["original_inference_steps"] = static (target, source) => target with { OriginalInferenceSteps = source.OriginalInferenceSteps },
        ["timestep_scaling"] = static (target, source) => target with { TimestepScaling = source.TimestepScaling },
        ["eta"] = static (target, source) => target with { Eta = source.Eta },
        ["shift"] = static (target, source) => target with { Shift = source.Shift },
        ["use_dynamic_shifting"] = static (target, source) => target with { UseDynamicShifting = source.UseDynamicShifting },
        ["base_shift"] = static (target, source) => target with { BaseShift = source.BaseShift },
        ["max_shift"] = static (target, source) => target with { MaxShift = source.MaxShift },
        ["base_image_seq_len"] = static (target, source) => target with { BaseImageSeqLen = source.BaseImageSeqLen },
        ["max_image_seq_len"] = static (target, source) => target with { MaxImageSeqLen = source.MaxImageSeqLen },
        ["invert_sigmas"] = static (target, source) => target with { InvertSigmas = source.InvertSigmas },
        ["shift_terminal"] = static (target, source) => target with { ShiftTerminal = source.ShiftTerminal },
        ["time_shift_type"] = static (target, source) => target with { TimeShiftType = source.TimeShiftType },
        ["stochastic_sampling"] = static (target, source) => target with { StochasticSampling = source.StochasticSampling },
    };

    /// <summary>
    /// diffusers' <c>from_config</c> rule: fields the file did not set (<see cref="SchedulerConfig.SpecifiedFields"/>)
    /// take the scheduler class' own defaults.
    /// </summary>
    internal static SchedulerConfig WithDefaultsFrom(SchedulerConfig config, SchedulerConfig classDefaults)
    {
        if (config.SpecifiedFields is not { } specified)
            return config;
        SchedulerConfig result = config;
        foreach ((string key, Func<SchedulerConfig, SchedulerConfig, SchedulerConfig> copy) in s_fieldCopiers)
        {
            if (!specified.Contains(key))
                result = copy(result, classDefaults);
        }
        return result;
    }

    /// <summary>Parses and validates <paramref name="json"/>; <paramref name="sourceName"/> names the file in errors.</summary>
    public static SchedulerConfig Read(string json, string sourceName, ILogger? logger)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(QuoteNonFiniteLiterals(json), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(sourceName, $"the scheduler config is not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException(sourceName, $"the scheduler config must be a JSON object, found {document.RootElement.ValueKind}.");

            string prefix = OptionPrefix(sourceName);
            var config = new SchedulerConfig();
            var unknown = new Dictionary<string, string>(StringComparer.Ordinal);
            var specified = new HashSet<string>(StringComparer.Ordinal);
            var usedDefaults = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                JsonElement value = property.Value;
                string key = property.Name;
                string option = prefix + key;
                if (value.ValueKind == JsonValueKind.Null && key != "_class_name")
                    continue; // diffusers writes null for "use the default" (trained_betas, variance_type, ...)
                if (s_fieldCopiers.ContainsKey(key))
                    specified.Add(key);
                switch (key)
                {
                    case "_class_name": config = config with { ClassName = value.ValueKind == JsonValueKind.Null ? null : GetString(value, option) }; break;
                    case "_diffusers_version": break;
                    case "_use_default_values":
                        // Keys that held the saving class' defaults: diffusers drops them so the loading class' defaults apply.
                        if (value.ValueKind == JsonValueKind.Array)
                        {
                            foreach (JsonElement item in value.EnumerateArray())
                            {
                                if (item.ValueKind == JsonValueKind.String)
                                    usedDefaults.Add(item.GetString()!);
                            }
                        }
                        break;
                    case "num_train_timesteps": config = config with { NumTrainTimesteps = GetInt(value, option) }; break;
                    case "beta_start": config = config with { BetaStart = GetDouble(value, option) }; break;
                    case "beta_end": config = config with { BetaEnd = GetDouble(value, option) }; break;
                    case "beta_schedule": config = config with { BetaSchedule = GetString(value, option) }; break;
                    case "trained_betas": config = config with { TrainedBetas = GetFloatList(value, option) }; break;
                    case "rescale_betas_zero_snr": config = config with { RescaleBetasZeroSnr = GetBool(value, option) }; break;
                    case "prediction_type": config = config with { PredictionType = GetString(value, option) }; break;
                    case "timestep_spacing": config = config with { TimestepSpacing = GetString(value, option) }; break;
                    case "steps_offset": config = config with { StepsOffset = GetInt(value, option) }; break;
                    case "set_alpha_to_one": config = config with { SetAlphaToOne = GetBool(value, option) }; break;
                    case "skip_prk_steps": config = config with { SkipPrkSteps = GetBool(value, option) }; break;
                    case "clip_sample": config = config with { ClipSample = GetBool(value, option) }; break;
                    case "clip_sample_range": config = config with { ClipSampleRange = (float)GetDouble(value, option) }; break;
                    case "thresholding": config = config with { Thresholding = GetBool(value, option) }; break;
                    case "dynamic_thresholding_ratio": config = config with { DynamicThresholdingRatio = (float)GetDouble(value, option) }; break;
                    case "sample_max_value": config = config with { SampleMaxValue = (float)GetDouble(value, option) }; break;
                    case "use_karras_sigmas": config = config with { UseKarrasSigmas = GetBool(value, option) }; break;
                    case "use_exponential_sigmas": config = config with { UseExponentialSigmas = GetBool(value, option) }; break;
                    case "use_beta_sigmas": config = config with { UseBetaSigmas = GetBool(value, option) }; break;
                    case "sigma_min": config = config with { SigmaMin = GetDouble(value, option) }; break;
                    case "sigma_max": config = config with { SigmaMax = GetDouble(value, option) }; break;
                    case "timestep_type": config = config with { TimestepType = GetString(value, option) }; break;
                    case "interpolation_type": config = config with { InterpolationType = GetString(value, option) }; break;
                    case "final_sigmas_type": config = config with { FinalSigmasType = GetString(value, option) }; break;
                    case "solver_order": config = config with { SolverOrder = GetInt(value, option) }; break;
                    case "algorithm_type": config = config with { AlgorithmType = GetString(value, option) }; break;
                    case "solver_type": config = config with { SolverType = GetString(value, option) }; break;
                    case "lower_order_final": config = config with { LowerOrderFinal = GetBool(value, option) }; break;
                    case "euler_at_final": config = config with { EulerAtFinal = GetBool(value, option) }; break;
                    case "lambda_min_clipped": config = config with { LambdaMinClipped = (float)GetDouble(value, option) }; break;
                    case "variance_type": config = config with { VarianceType = GetString(value, option) }; break;
                    case "use_lu_lambdas": config = config with { UseLuLambdas = GetBool(value, option) }; break;
                    case "use_flow_sigmas": config = config with { UseFlowSigmas = GetBool(value, option) }; break;
                    case "flow_shift": config = config with { FlowShift = GetDouble(value, option) }; break;
                    case "predict_x0": config = config with { PredictX0 = GetBool(value, option) }; break;
                    case "disable_corrector": config = config with { DisableCorrector = GetIntList(value, option) }; break;
                    case "original_inference_steps": config = config with { OriginalInferenceSteps = GetInt(value, option) }; break;
                    case "timestep_scaling": config = config with { TimestepScaling = GetDouble(value, option) }; break;
                    case "eta": config = config with { Eta = (float)GetDouble(value, option) }; break;
                    case "shift": config = config with { Shift = GetDouble(value, option) }; break;
                    case "use_dynamic_shifting": config = config with { UseDynamicShifting = GetBool(value, option) }; break;
                    case "base_shift": config = config with { BaseShift = GetDouble(value, option) }; break;
                    case "max_shift": config = config with { MaxShift = GetDouble(value, option) }; break;
                    case "base_image_seq_len": config = config with { BaseImageSeqLen = GetInt(value, option) }; break;
                    case "max_image_seq_len": config = config with { MaxImageSeqLen = GetInt(value, option) }; break;
                    case "invert_sigmas": config = config with { InvertSigmas = GetBool(value, option) }; break;
                    case "shift_terminal": config = config with { ShiftTerminal = GetDouble(value, option) }; break;
                    case "time_shift_type": config = config with { TimeShiftType = GetString(value, option) }; break;
                    case "stochastic_sampling": config = config with { StochasticSampling = GetBool(value, option) }; break;
                    default:
                        if (key.StartsWith('_'))
                            break; // diffusers bookkeeping such as _use_default_values
                        unknown[key] = value.GetRawText();
                        if (logger is not null && logger.IsEnabled(LogLevel.Information))
                            logger.LogInformation(UnknownKeyMessage, sourceName, key);
                        break;
                }
            }
            specified.ExceptWith(usedDefaults);
            config = config with { UnknownFields = unknown, SpecifiedFields = specified };
            SchedulerConfigValidator.Validate(config, prefix);
            return config;
        }
    }

    /// <summary>
    /// Python's json module writes float('inf') / float('nan') as the bare tokens Infinity, -Infinity and NaN
    /// (diffusers saves lambda_min_clipped = -inf that way); System.Text.Json rejects them, so they are quoted here
    /// (outside strings only) and read back as numbers.
    /// </summary>
    internal static string QuoteNonFiniteLiterals(string json)
    {
        if (!json.Contains("Infinity", StringComparison.Ordinal) && !json.Contains("NaN", StringComparison.Ordinal))
            return json;
        var builder = new System.Text.StringBuilder(json.Length + 16);
        bool inString = false;
        for (int i = 0; i < json.Length; i++)
        {
            char c = json[i];
            if (inString)
            {
                builder.Append(c);
                if (c == '\\' && i + 1 < json.Length)
                    builder.Append(json[++i]);
                else if (c == '"')
                    inString = false;
                continue;
            }
            if (c == '"')
            {
                inString = true;
                builder.Append(c);
                continue;
            }
            string? token = null;
            foreach (string candidate in s_nonFiniteTokens)
            {
                if (string.CompareOrdinal(json, i, candidate, 0, candidate.Length) == 0)
                {
                    token = candidate;
                    break;
                }
            }
            if (token is null)
            {
                builder.Append(c);
                continue;
            }
            builder.Append('"').Append(token).Append('"');
            i += token.Length - 1;
        }
        return builder.ToString();
    }

    private static readonly string[] s_nonFiniteTokens = ["-Infinity", "Infinity", "NaN"];

    /// <summary>"scheduler_config.json: " for a path ending in that file name, else "&lt;source&gt;: ".</summary>
    internal static string OptionPrefix(string sourceName)
    {
        string fileName = Path.GetFileName(sourceName);
        return (string.IsNullOrEmpty(fileName) ? sourceName : fileName) + ": ";
    }

    private static string GetString(JsonElement value, string option)
        => value.ValueKind == JsonValueKind.String ? value.GetString()! : throw WrongType(value, option, "a string");

    private static bool GetBool(JsonElement value, string option) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw WrongType(value, option, "true or false"),
    };

    private static int GetInt(JsonElement value, string option)
    {
        if (value.ValueKind == JsonValueKind.Number)
        {
            if (value.TryGetInt32(out int result))
                return result;
            // 1000.0 is written by some exporters for integer fields.
            double d = value.GetDouble();
            if (d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue)
                return (int)d;
        }
        throw WrongType(value, option, "an integer");
    }

    private static double GetDouble(JsonElement value, string option)
    {
        if (value.ValueKind == JsonValueKind.Number)
            return value.GetDouble();
        // Infinity / -Infinity / NaN, quoted by QuoteNonFiniteLiterals or by the exporter.
        if (value.ValueKind == JsonValueKind.String)
        {
            switch (value.GetString())
            {
                case "Infinity" or "inf": return double.PositiveInfinity;
                case "-Infinity" or "-inf": return double.NegativeInfinity;
                case "NaN" or "nan": return double.NaN;
            }
        }
        throw WrongType(value, option, "a number");
    }

    private static float[] GetFloatList(JsonElement value, string option)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw WrongType(value, option, "an array of numbers");
        var result = new float[value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in value.EnumerateArray())
            result[i++] = (float)GetDouble(item, option); // float64 -> float32, as torch.tensor(..., float32)
        return result;
    }

    private static int[] GetIntList(JsonElement value, string option)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw WrongType(value, option, "an array of integers");
        var result = new int[value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in value.EnumerateArray())
            result[i++] = GetInt(item, option);
        return result;
    }

    private static InvalidOptionException WrongType(JsonElement value, string option, string expected)
        => new(option, $"expected {expected}, got {value.ValueKind} {Truncate(value.GetRawText())}.");

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "...";
}
