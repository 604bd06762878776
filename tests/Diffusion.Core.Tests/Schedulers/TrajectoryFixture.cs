using System.Globalization;
using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// One reference run recorded by <c>tools/reference-data/schedulers-b/generate_reference.py</c> from diffusers:
/// the effective configuration, the schedule, and per step the model output fed in and the sample that came out.
/// </summary>
internal sealed class TrajectoryFixture
{
    public required string Name { get; init; }
    public required string ClassName { get; init; }
    public required SchedulerConfig Config { get; init; }
    public required int Steps { get; init; }
    public required double[] Timesteps { get; init; }
    public float[]? Sigmas { get; init; }
    public required float InitNoiseSigma { get; init; }
    public required int Order { get; init; }
    public required float[] InitialSample { get; init; }
    public required float[][] ModelOutputs { get; init; }
    public required float[][] Samples { get; init; }
    public required float[][] Noise { get; init; }
    public required (int Index, float[] Original, float[] Noise, float[] Result)[] AddNoise { get; init; }
    public JsonElement StepArguments { get; init; }

    public override string ToString() => Name;

    /// <summary>Loads every case of a fixture file in TestData/schedulers-b.</summary>
    public static IReadOnlyList<TrajectoryFixture> Load(string fileName)
    {
        using JsonDocument document = JsonDocument.Parse(ReadText(fileName));
        var result = new List<TrajectoryFixture>();
        foreach (JsonElement c in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            result.Add(new TrajectoryFixture
            {
                Name = c.GetProperty("name").GetString()!,
                ClassName = c.GetProperty("class").GetString()!,
                Config = ReadConfig(c.GetProperty("config"), c.GetProperty("class").GetString()!),
                Steps = c.GetProperty("steps").GetInt32(),
                Timesteps = c.GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble()).ToArray(),
                Sigmas = c.GetProperty("sigmas").ValueKind == JsonValueKind.Null ? null : Floats(c.GetProperty("sigmas")),
                InitNoiseSigma = c.GetProperty("init_noise_sigma").GetSingle(),
                Order = c.GetProperty("order").GetInt32(),
                InitialSample = Floats(c.GetProperty("sample0")),
                ModelOutputs = c.GetProperty("model_outputs").EnumerateArray().Select(Floats).ToArray(),
                Samples = c.GetProperty("samples").EnumerateArray().Select(Floats).ToArray(),
                Noise = c.GetProperty("noise").EnumerateArray().Select(Floats).ToArray(),
                AddNoise = c.GetProperty("add_noise").EnumerateArray()
                    .Select(a => (a.GetProperty("index").GetInt32(), Floats(a.GetProperty("original")),
                        Floats(a.GetProperty("noise")), Floats(a.GetProperty("result")))).ToArray(),
                StepArguments = c.GetProperty("step_kwargs").Clone(),
            });
        }

        return result;
    }

    /// <summary>The diffusers-test entries (full-loop sums and means) of a fixture file.</summary>
    public static IReadOnlyList<DiffusersLoopReference> LoadDiffusersTests(string fileName)
    {
        using JsonDocument document = JsonDocument.Parse(ReadText(fileName));
        var result = new List<DiffusersLoopReference>();
        foreach (JsonElement e in document.RootElement.GetProperty("diffusers_tests").EnumerateArray())
        {
            result.Add(new DiffusersLoopReference(
                e.GetProperty("name").GetString()!,
                ReadConfig(e.GetProperty("config"), e.GetProperty("class").GetString()!),
                e.GetProperty("steps").GetInt32(),
                e.GetProperty("sum_abs").GetDouble(),
                e.GetProperty("mean_abs").GetDouble(),
                e.GetProperty("expected_sum_abs").ValueKind == JsonValueKind.Number ? e.GetProperty("expected_sum_abs").GetDouble() : null,
                e.GetProperty("expected_mean_abs").ValueKind == JsonValueKind.Number ? e.GetProperty("expected_mean_abs").GetDouble() : null,
                e.GetProperty("noise").EnumerateArray().Select(Floats).ToArray(),
                e.GetProperty("step_kwargs").Clone(),
                e.GetProperty("start_index").GetInt32(),
                e.GetProperty("add_noise").GetBoolean()));
        }

        return result;
    }

    public static string PathOf(string fileName, string folder = "schedulers-b") => Path.Combine(AppContext.BaseDirectory, "TestData", folder, fileName + ".gz");

    /// <summary>The JSON text of a fixture (stored gzip-compressed to keep the repository small) in TestData/<paramref name="folder"/>.</summary>
    public static string ReadText(string fileName, string folder = "schedulers-b")
    {
        using FileStream file = File.OpenRead(PathOf(fileName, folder));
        using var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        return reader.ReadToEnd();
    }

    public static float[] Floats(JsonElement array)
    {
        var result = new float[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement v in array.EnumerateArray())
        {
            result[i++] = v.GetSingle();
        }

        return result;
    }

    /// <summary>
    /// Maps the recorded constructor arguments (every one, defaults included) onto a <see cref="SchedulerConfig"/>.
    /// Done here rather than through the JSON reader so values diffusers accepts but the reader's validation is
    /// stricter about (e.g. sample_max_value below 1 in diffusers' own thresholding test) can still be replayed.
    /// </summary>
    public static SchedulerConfig ReadConfig(JsonElement c, string className)
    {
        var config = new SchedulerConfig { ClassName = className };
        foreach (JsonProperty p in c.EnumerateObject())
        {
            JsonElement v = p.Value;
            if (v.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            config = p.Name switch
            {
                "num_train_timesteps" => config with { NumTrainTimesteps = v.GetInt32() },
                "beta_start" => config with { BetaStart = v.GetDouble() },
                "beta_end" => config with { BetaEnd = v.GetDouble() },
                "beta_schedule" => config with { BetaSchedule = v.GetString()! },
                "trained_betas" => config with { TrainedBetas = Floats(v) },
                "rescale_betas_zero_snr" => config with { RescaleBetasZeroSnr = v.GetBoolean() },
                "prediction_type" => config with { PredictionType = v.GetString()! },
                "timestep_spacing" => config with { TimestepSpacing = v.GetString()! },
                "steps_offset" => config with { StepsOffset = v.GetInt32() },
                "set_alpha_to_one" => config with { SetAlphaToOne = v.GetBoolean() },
                "clip_sample" => config with { ClipSample = v.GetBoolean() },
                "clip_sample_range" => config with { ClipSampleRange = v.GetSingle() },
                "thresholding" => config with { Thresholding = v.GetBoolean() },
                "dynamic_thresholding_ratio" => config with { DynamicThresholdingRatio = v.GetSingle() },
                "sample_max_value" => config with { SampleMaxValue = v.GetSingle() },
                "use_karras_sigmas" => config with { UseKarrasSigmas = v.GetBoolean() },
                "use_exponential_sigmas" => config with { UseExponentialSigmas = v.GetBoolean() },
                "use_beta_sigmas" => config with { UseBetaSigmas = v.GetBoolean() },
                "sigma_min" => config with { SigmaMin = v.GetDouble() },
                "sigma_max" => config with { SigmaMax = v.GetDouble() },
                "use_lu_lambdas" => config with { UseLuLambdas = v.GetBoolean() },
                "use_flow_sigmas" => config with { UseFlowSigmas = v.GetBoolean() },
                "final_sigmas_type" => config with { FinalSigmasType = v.GetString() },
                "solver_order" => config with { SolverOrder = v.GetInt32() },
                "algorithm_type" => config with { AlgorithmType = v.GetString()! },
                "solver_type" => config with { SolverType = v.GetString()! },
                "lower_order_final" => config with { LowerOrderFinal = v.GetBoolean() },
                "euler_at_final" => config with { EulerAtFinal = v.GetBoolean() },
                "lambda_min_clipped" => config with
                {
                    LambdaMinClipped = v.ValueKind == JsonValueKind.String
                        ? float.Parse(v.GetString()!, CultureInfo.InvariantCulture)
                        : v.GetSingle(),
                },
                "variance_type" => config with { VarianceType = v.GetString() },
                "predict_x0" => config with { PredictX0 = v.GetBoolean() },
                "disable_corrector" => config with { DisableCorrector = v.EnumerateArray().Select(x => x.GetInt32()).ToArray() },
                "original_inference_steps" => config with { OriginalInferenceSteps = v.GetInt32() },
                "timestep_scaling" => config with { TimestepScaling = v.GetDouble() },
                "shift" => config with { Shift = v.GetDouble() },
                "use_dynamic_shifting" => config with { UseDynamicShifting = v.GetBoolean() },
                "base_shift" => config with { BaseShift = v.GetDouble() },
                "max_shift" => config with { MaxShift = v.GetDouble() },
                "base_image_seq_len" => config with { BaseImageSeqLen = v.GetInt32() },
                "max_image_seq_len" => config with { MaxImageSeqLen = v.GetInt32() },
                "invert_sigmas" => config with { InvertSigmas = v.GetBoolean() },
                "shift_terminal" => config with { ShiftTerminal = v.GetDouble() },
                "time_shift_type" => config with { TimeShiftType = v.GetString()! },
                "stochastic_sampling" => config with { StochasticSampling = v.GetBoolean() },
                _ => config,
            };
        }

        return config;
    }
}

/// <summary>A full loop from diffusers' tests/schedulers: the configuration and the |sample| sum and mean it ends with.</summary>
internal sealed record DiffusersLoopReference(
    string Name, SchedulerConfig Config, int Steps, double SumAbs, double MeanAbs,
    double? ExpectedSumAbs, double? ExpectedMeanAbs, float[][] Noise, JsonElement StepArguments, int StartIndex, bool AddNoise)
{
    public override string ToString() => Name;
}
