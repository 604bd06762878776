using Diffusion.Core.Schedulers;
using Microsoft.Extensions.Logging;

namespace Diffusion.Core.Tests.Schedulers;

public sealed class SchedulerConfigJsonTests
{
    [Fact]
    public void ReadsTinySdSchedulerConfig()
    {
        string path = SharedData.Require("models/tiny-sd/scheduler/scheduler_config.json");
        SchedulerConfig config = SchedulerConfig.FromJsonFile(path);
        Assert.Equal("PNDMScheduler", config.ClassName);
        Assert.Equal(0.00085, config.BetaStart);
        Assert.Equal(0.012, config.BetaEnd);
        Assert.Equal("scaled_linear", config.BetaSchedule);
        Assert.Equal(1000, config.NumTrainTimesteps);
        Assert.Equal(1, config.StepsOffset);
        Assert.False(config.SetAlphaToOne);
        Assert.True(config.SkipPrkSteps);
        Assert.False(config.ClipSample);
        Assert.Null(config.TrainedBetas);
        Assert.Empty(config.UnknownFields);
    }

    [Fact]
    public void StableDiffusion15DefaultEqualsTheSd15File()
    {
        // runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json.
        const string json = """
            {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
             "steps_offset": 1, "trained_betas": null, "clip_sample": false}
            """;
        SchedulerConfig parsed = SchedulerConfig.FromJson(json, "scheduler_config.json");
        Assert.Equal(SchedulerConfig.StableDiffusion15 with { UnknownFields = parsed.UnknownFields, SpecifiedFields = parsed.SpecifiedFields }, parsed);
    }

    [Fact]
    public void UnknownKeysAreCollectedAndLoggedAtInformation()
    {
        var logger = new ListLogger();
        SchedulerConfig config = SchedulerConfig.FromJson("""{"beta_start": 0.001, "some_future_option": [1, 2], "_use_default_values": ["x"]}""", "scheduler_config.json", logger);
        Assert.Equal("[1, 2]", config.UnknownFields["some_future_option"]);
        Assert.Single(config.UnknownFields);
        (LogLevel level, string message) = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Information, level);
        Assert.Contains("some_future_option", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"beta_schedule": "cubic"}""", "scheduler_config.json: beta_schedule")]
    [InlineData("""{"prediction_type": "noise"}""", "scheduler_config.json: prediction_type")]
    [InlineData("""{"timestep_spacing": "random"}""", "scheduler_config.json: timestep_spacing")]
    [InlineData("""{"num_train_timesteps": 0}""", "scheduler_config.json: num_train_timesteps")]
    [InlineData("""{"num_train_timesteps": 1}""", "scheduler_config.json: num_train_timesteps")]
    [InlineData("""{"num_train_timesteps": 100001}""", "scheduler_config.json: num_train_timesteps")]
    [InlineData("""{"num_train_timesteps": "1000"}""", "scheduler_config.json: num_train_timesteps")]
    [InlineData("""{"steps_offset": -1}""", "scheduler_config.json: steps_offset")]
    [InlineData("""{"clip_sample": 1}""", "scheduler_config.json: clip_sample")]
    [InlineData("""{"beta_start": "small"}""", "scheduler_config.json: beta_start")]
    [InlineData("""{"beta_start": 0.012, "beta_end": 0.00085, "beta_schedule": "scaled_linear"}""", "scheduler_config.json: beta_start")]
    [InlineData("""{"beta_start": 0.02, "beta_end": 0.0001, "beta_schedule": "linear"}""", "scheduler_config.json: beta_start")]
    [InlineData("""{"trained_betas": [0.1, 0.2]}""", "scheduler_config.json: trained_betas")]
    [InlineData("""{"use_karras_sigmas": true, "use_beta_sigmas": true}""", "scheduler_config.json: use_karras_sigmas")]
    [InlineData("""{"final_sigmas_type": "one"}""", "scheduler_config.json: final_sigmas_type")]
    [InlineData("""{"dynamic_thresholding_ratio": 1.5}""", "scheduler_config.json: dynamic_thresholding_ratio")]
    [InlineData("""{"interpolation_type": "cubic"}""", "scheduler_config.json: interpolation_type")]
    public void InvalidValuesNameTheKey(string json, string optionName)
    {
        var error = Assert.Throws<InvalidOptionException>(() => SchedulerConfig.FromJson(json, "/models/x/scheduler/scheduler_config.json"));
        Assert.Equal(optionName, error.OptionName);
    }

    [Fact]
    public void ReadsPythonsBareInfinityLiterals()
    {
        // diffusers saves DPMSolverMultistepScheduler's default lambda_min_clipped = -inf with json.dumps,
        // which writes the bare token -Infinity.
        const string json = """{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "note": "Infinity stays text", "trained_betas": null}""";
        SchedulerConfig config = SchedulerConfig.FromJson(json, "scheduler_config.json");
        Assert.Equal(float.NegativeInfinity, config.LambdaMinClipped);
        Assert.Equal("\"Infinity stays text\"", config.UnknownFields["note"]);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[1, 2]")]
    [InlineData("")]
    public void MalformedJsonIsAModelLoadError(string json)
    {
        var error = Assert.Throws<ModelLoadException>(() => SchedulerConfig.FromJson(json, "/m/scheduler/scheduler_config.json"));
        Assert.Equal("/m/scheduler/scheduler_config.json", error.Path);
    }

    [Fact]
    public void MissingFileIsAModelLoadErrorNamingIt()
    {
        string path = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "scheduler_config.json");
        var error = Assert.Throws<ModelLoadException>(() => SchedulerConfig.FromJsonFile(path));
        Assert.Equal(path, error.Path);
    }

    [Fact]
    public void ReadsEveryKnownField()
    {
        const string json = """
            {"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 500, "beta_start": 0.0001, "beta_end": 0.02,
             "beta_schedule": "linear", "rescale_betas_zero_snr": true, "prediction_type": "v_prediction",
             "timestep_spacing": "trailing", "steps_offset": 0, "set_alpha_to_one": true, "skip_prk_steps": false,
             "clip_sample": true, "clip_sample_range": 2.0, "thresholding": true, "dynamic_thresholding_ratio": 0.9,
             "sample_max_value": 3.0, "use_karras_sigmas": true, "sigma_min": 0.1, "sigma_max": 10.0,
             "timestep_type": "continuous", "interpolation_type": "log_linear", "final_sigmas_type": "sigma_min",
             "solver_order": 3, "algorithm_type": "sde-dpmsolver++", "solver_type": "heun", "lower_order_final": false,
             "euler_at_final": true, "lambda_min_clipped": -5.1, "variance_type": "learned_range", "use_lu_lambdas": true,
             "use_flow_sigmas": true, "flow_shift": 3.0, "predict_x0": false, "disable_corrector": [0, 2],
             "original_inference_steps": 4, "timestep_scaling": 5.0, "eta": 0.5}
            """;
        SchedulerConfig c = SchedulerConfig.FromJson(json, "scheduler_config.json");
        Assert.Equal(
            ("EulerDiscreteScheduler", 500, 0.0001, 0.02, "linear", true, "v_prediction", "trailing", 0, true, false),
            (c.ClassName, c.NumTrainTimesteps, c.BetaStart, c.BetaEnd, c.BetaSchedule, c.RescaleBetasZeroSnr, c.PredictionType, c.TimestepSpacing, c.StepsOffset, c.SetAlphaToOne, c.SkipPrkSteps));
        Assert.Equal((true, 2f, true, 0.9f, 3f, true), (c.ClipSample, c.ClipSampleRange, c.Thresholding, c.DynamicThresholdingRatio, c.SampleMaxValue, c.UseKarrasSigmas));
        Assert.Equal((0.1, 10.0, "continuous", "log_linear", "sigma_min"), (c.SigmaMin!.Value, c.SigmaMax!.Value, c.TimestepType, c.InterpolationType, c.FinalSigmasType));
        Assert.Equal((3, "sde-dpmsolver++", "heun", false, true, -5.1f, "learned_range"), (c.SolverOrder, c.AlgorithmType, c.SolverType, c.LowerOrderFinal, c.EulerAtFinal, c.LambdaMinClipped, c.VarianceType));
        Assert.Equal((true, true, 3.0, false, 4, 5.0, 0.5f), (c.UseLuLambdas, c.UseFlowSigmas, c.FlowShift, c.PredictX0, c.OriginalInferenceSteps, c.TimestepScaling, c.Eta));
        Assert.Equal([0, 2], c.DisableCorrector);
        Assert.Empty(c.UnknownFields);
    }

    [Fact]
    public void FieldsTheFileLeavesOutTakeTheSchedulersDiffusersDefaults()
    {
        // SD 1.5's file has no timestep_spacing: diffusers' EulerDiscreteScheduler.from_config uses its own
        // default "linspace" (timesteps 999, 888, ...), PNDMScheduler its default "leading" with steps_offset 1.
        const string json = """{"_class_name": "PNDMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1, "skip_prk_steps": true}""";
        SchedulerConfig config = SchedulerConfig.FromJson(json, "scheduler_config.json");
        var euler = new EulerDiscreteScheduler(config);
        euler.SetTimesteps(10);
        Assert.Equal("linspace", euler.Config.TimestepSpacing);
        Assert.Equal(999f, euler.Timesteps[0]);
        Assert.Equal(888f, euler.Timesteps[1]);
        var pndm = new PndmScheduler(config);
        pndm.SetTimesteps(10);
        Assert.Equal("leading", pndm.Config.TimestepSpacing);
        Assert.Equal(901f, pndm.Timesteps[0]);
    }

    [Fact]
    public void KeysListedInUseDefaultValuesAreReplacedByTheLoadingClassDefaults()
    {
        // diffusers' extract_init_dict drops the keys in _use_default_values before building the class.
        const string json = """{"_class_name": "PNDMScheduler", "timestep_spacing": "leading", "clip_sample": false, "_use_default_values": ["timestep_spacing"]}""";
        var ddim = new DdimScheduler(SchedulerConfig.FromJson(json, "scheduler_config.json"));
        Assert.Equal("leading", ddim.Config.TimestepSpacing); // DDIM's own default
        Assert.False(ddim.Config.ClipSample);                 // set by the file
        var euler = new EulerDiscreteScheduler(SchedulerConfig.FromJson(json, "scheduler_config.json"));
        Assert.Equal("linspace", euler.Config.TimestepSpacing);
    }

    [Fact]
    public void ConfigsBuiltInCodeAreUsedAsGiven()
    {
        var euler = new EulerDiscreteScheduler(SchedulerConfig.StableDiffusion15);
        Assert.Equal("leading", euler.Config.TimestepSpacing);
        Assert.Null(SchedulerConfig.StableDiffusion15.SpecifiedFields);
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Entries.Add((logLevel, formatter(state, exception)));
    }
}
