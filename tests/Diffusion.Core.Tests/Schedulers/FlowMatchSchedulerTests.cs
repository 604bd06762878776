using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>Behaviour of the flow-matching schedulers beyond the diffusers replay: argument checks, configs, names, allocation.</summary>
public sealed class FlowMatchSchedulerTests
{
    // FLUX.1-dev's and SD3.5's scheduler_config.json as published (diffusers layout).
    private const string FluxDevJson = """
        {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0", "base_image_seq_len": 256,
         "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0,
         "use_dynamic_shifting": true}
        """;

    private const string Sd35Json = """{"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.31.0.dev0", "num_train_timesteps": 1000, "shift": 3.0}""";

    private static SchedulerConfig FluxDev => SchedulerConfig.FromJson(FluxDevJson, "scheduler_config.json");

    private static SchedulerConfig Sd35 => SchedulerConfig.FromJson(Sd35Json, "scheduler_config.json");

    [Fact]
    public void Published_configs_create_their_class_with_every_field_read()
    {
        IScheduler flux = SchedulerCatalog.CreateFromConfig(FluxDev);
        Assert.IsType<FlowMatchEulerDiscreteScheduler>(flux);
        Assert.True(flux.Config.UseDynamicShifting);
        Assert.Equal(3.0, flux.Config.Shift);
        Assert.Empty(FluxDev.UnknownFields);
        Assert.Equal(3.0, SchedulerCatalog.CreateFromConfig(Sd35).Config.Shift);
    }

    [Fact]
    public void Dynamic_shifting_without_mu_names_mu()
    {
        var scheduler = new FlowMatchEulerDiscreteScheduler(FluxDev);
        Assert.Equal("mu", Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(4)).OptionName);
        scheduler.SetTimesteps(4, FlowMatchSigmas.FluxDefaultSigmas(4), FlowMatchSigmas.CalculateShift(4096, scheduler.Config));
        Assert.Equal(1000f, scheduler.Timesteps[0]);
        Assert.Equal(0f, scheduler.Sigmas[^1]);
    }

    [Fact]
    public void Mu_is_ignored_without_dynamic_shifting_as_in_diffusers()
    {
        var withMu = new FlowMatchEulerDiscreteScheduler(Sd35);
        withMu.SetTimesteps(6, mu: 2.5);
        var plain = new FlowMatchEulerDiscreteScheduler(Sd35);
        plain.SetTimesteps(6);
        Assert.Equal(plain.Sigmas.ToArray(), withMu.Sigmas.ToArray());
    }

    [Theory]
    [InlineData(new float[] { 1f, -0.1f }, "Sigmas")]
    [InlineData(new float[] { 1.5f, 0.5f }, "Sigmas")]
    [InlineData(new float[] { float.NaN }, "Sigmas")]
    [InlineData(new float[0], "Sigmas")]
    public void Bad_custom_sigmas_are_named(float[] sigmas, string option)
    {
        var scheduler = new FlowMatchEulerDiscreteScheduler(Sd35);
        Assert.Equal(option, Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(null, sigmas)).OptionName);
    }

    [Fact]
    public void Custom_lists_and_step_counts_must_agree()
    {
        var scheduler = new FlowMatchEulerDiscreteScheduler(Sd35);
        Assert.Equal("InferenceSteps", Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(3, [1f, 0.5f])).OptionName);
        Assert.Equal("Timesteps", Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(null, [1f, 0.5f], timesteps: [900f])).OptionName);
        Assert.Equal("Timesteps", Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(null, timesteps: [1200f])).OptionName);
        Assert.Equal("InferenceSteps", Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(null)).OptionName);
        Assert.Equal("InferenceSteps", Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(0)).OptionName);
        Assert.Equal("mu", Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(4, mu: double.NaN)).OptionName);
    }

    [Theory]
    [InlineData("""{"shift": 0}""", "scheduler_config.json: shift")]
    [InlineData("""{"shift": -3}""", "scheduler_config.json: shift")]
    [InlineData("""{"shift_terminal": 1.0}""", "scheduler_config.json: shift_terminal")]
    [InlineData("""{"time_shift_type": "cubic"}""", "scheduler_config.json: time_shift_type")]
    [InlineData("""{"max_image_seq_len": 256}""", "scheduler_config.json: max_image_seq_len")]
    [InlineData("""{"use_dynamic_shifting": "yes"}""", "scheduler_config.json: use_dynamic_shifting")]
    [InlineData("""{"use_karras_sigmas": true, "use_beta_sigmas": true}""", "scheduler_config.json: use_karras_sigmas")]
    public void Bad_flow_matching_config_values_are_named(string json, string option)
    {
        var error = Assert.ThrowsAny<InvalidOptionException>(() =>
            new FlowMatchEulerDiscreteScheduler(SchedulerConfig.FromJson(json, "scheduler_config.json")));
        Assert.Equal(option, error.OptionName);
    }

    [Fact]
    public void Stochastic_sampling_needs_a_random_source()
    {
        var scheduler = new FlowMatchEulerDiscreteScheduler(Sd35 with { StochasticSampling = true, SpecifiedFields = null });
        scheduler.SetTimesteps(2);
        Assert.Throws<ArgumentNullException>(() => scheduler.Step(new float[4], 0, new float[4]));
    }

    [Fact]
    public void Heun_correction_must_follow_its_prediction()
    {
        var scheduler = new FlowMatchHeunDiscreteScheduler(Sd35);
        scheduler.SetTimesteps(3);
        Assert.Equal(5, scheduler.Timesteps.Length);
        Assert.Equal(2, scheduler.Order);
        Assert.Throws<InvalidOperationException>(() => scheduler.Step(new float[4], 1, new float[4]));
    }

    [Fact]
    public void Heun_churn_arguments_are_checked()
    {
        Assert.Equal("s_churn", Assert.Throws<InvalidOptionException>(() => new FlowMatchHeunDiscreteScheduler(Sd35, -1f, 0f, 1f, 1f)).OptionName);
        Assert.Equal("s_tmin", Assert.Throws<InvalidOptionException>(() => new FlowMatchHeunDiscreteScheduler(Sd35, 1f, 0.9f, 0.1f, 1f)).OptionName);
    }

    [Fact]
    public void Heun_reads_only_its_own_options()
    {
        // A FLUX config switched to Heun (diffusers' from_config drops the keys Heun's constructor lacks).
        var fromFlux = new FlowMatchHeunDiscreteScheduler(FluxDev with { UseKarrasSigmas = true, SpecifiedFields = null });
        var plain = new FlowMatchHeunDiscreteScheduler(new SchedulerConfig { Shift = 3.0 });
        fromFlux.SetTimesteps(5);
        plain.SetTimesteps(5);
        Assert.Equal(plain.Sigmas.ToArray(), fromFlux.Sigmas.ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void AddNoise_may_write_over_either_input(int alias)
    {
        var scheduler = new FlowMatchEulerDiscreteScheduler(Sd35);
        scheduler.SetTimesteps(4);
        float[] original = [0.5f, -1f, 2f, 0.25f];
        float[] noise = [1f, 0.3f, -0.7f, 2f];
        float[] expected = new float[4];
        scheduler.AddNoise(original, noise, 1, expected);
        float[] target = alias == 0 ? (float[])original.Clone() : (float[])noise.Clone();
        scheduler.AddNoise(alias == 0 ? target : original, alias == 1 ? target : noise, 1, target);
        Assert.Equal(expected, target);
    }

    [Theory]
    [InlineData("FlowMatchEulerDiscreteScheduler")]
    [InlineData("FlowMatchHeunDiscreteScheduler")]
    [InlineData("euler+beta")]
    public void Steps_after_the_first_do_not_allocate(string name)
    {
        IScheduler scheduler = SchedulerCatalog.Create(name, Sd35 with { StochasticSampling = name == "euler+beta", SpecifiedFields = null });
        var sample = new float[16 * 64 * 64];
        var input = new float[sample.Length];
        var output = new float[sample.Length];
        for (int i = 0; i < sample.Length; i++)
            sample[i] = MathF.Sin(i * 0.1f);
        var random = new FormulaNoiseSource();
        scheduler.SetTimesteps(8);
        for (int i = 0; i < scheduler.Timesteps.Length; i++)
            Run(i);
        long allocated = long.MaxValue;
        for (int attempt = 0; attempt < 3 && allocated != 0; attempt++)
        {
            Run(0);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 1; i < scheduler.Timesteps.Length; i++)
                Run(i);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, allocated);
        Assert.Equal(name == "euler+beta", scheduler.Config.StochasticSampling);

        void Run(int i)
        {
            scheduler.ScaleModelInput(sample, i, input);
            for (int j = 0; j < input.Length; j++)
                output[j] = 0.5f * input[j];
            scheduler.Step(output, i, sample, random);
        }
    }

    [Theory]
    [InlineData("Euler", "FlowMatchEulerDiscreteScheduler", false)]
    [InlineData("euler", "FlowMatchEulerDiscreteScheduler", false)]
    [InlineData("euler + simple", "FlowMatchEulerDiscreteScheduler", false)]
    [InlineData("Euler Karras", "FlowMatchEulerDiscreteScheduler", true)]
    [InlineData("euler+karras", "FlowMatchEulerDiscreteScheduler", true)]
    [InlineData("Heun", "FlowMatchHeunDiscreteScheduler", false)]
    [InlineData("heun+normal", "FlowMatchHeunDiscreteScheduler", false)]
    public void Sampler_names_on_a_flow_model_pick_the_flow_matching_class(string name, string className, bool karras)
    {
        IScheduler scheduler = SchedulerCatalog.Create(name, FluxDev);
        Assert.Equal(className, scheduler.GetType().Name);
        Assert.Equal(karras, scheduler.Config.UseKarrasSigmas);
        Assert.True(scheduler.Config.UseDynamicShifting); // the model's own schedule carries over
    }

    [Fact]
    public void Diffusion_sampler_on_a_flow_model_is_refused_with_the_names_that_fit()
    {
        var error = Assert.Throws<InvalidOptionException>(() => SchedulerCatalog.Create("DPM++ 2M Karras", FluxDev));
        Assert.Equal("Scheduler", error.OptionName);
        Assert.Contains("flow-matching", error.Message, StringComparison.Ordinal);
        Assert.Contains("euler+beta", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Flow_matching_scheduler_on_a_diffusion_model_is_refused()
    {
        var error = Assert.Throws<InvalidOptionException>(() => SchedulerCatalog.Create("FlowMatchEulerDiscreteScheduler", SchedulerConfig.StableDiffusion15));
        Assert.Contains("PNDMScheduler", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_flow_matching_name_creates_a_scheduler()
    {
        foreach (string name in SchedulerCatalog.FlowMatchingNames)
        {
            IScheduler scheduler = SchedulerCatalog.Create(name, Sd35);
            scheduler.SetTimesteps(4);
            Assert.StartsWith("FlowMatch", scheduler.GetType().Name, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_schedule_that_would_hold_NaN_is_refused()
    {
        // log(0) = −∞: diffusers steps with NaN sigmas here.
        var scheduler = new FlowMatchEulerDiscreteScheduler(new SchedulerConfig { UseExponentialSigmas = true });
        var error = Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(null, [1f, 0.5f, 0f]));
        Assert.Equal("Sigmas", error.OptionName);
        Assert.Contains("above 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tiny_shift_that_underflows_is_refused_not_stepped_with_NaN()
    {
        var scheduler = new FlowMatchEulerDiscreteScheduler(new SchedulerConfig { Shift = 1e-300 });
        Assert.Equal("scheduler_config.json: shift", Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(4)).OptionName);
    }
}
