using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// SchedulerCatalog against diffusers' <c>Class.from_config(pipe.scheduler.config, **overrides)</c> on real
/// scheduler_config.json files (TestData/schedulers-b/catalog.json.gz, from tools/reference-data/schedulers-b).
/// </summary>
public sealed class SchedulerCatalogTests
{
    private static readonly Lazy<JsonElement[]> s_cases = new(() =>
    {
        using JsonDocument document = JsonDocument.Parse(TrajectoryFixture.ReadText("catalog.json"));
        return document.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToArray();
    });

    public static TheoryData<int> CaseIndices => new(Enumerable.Range(0, CaseCount()));

    private static int CaseCount()
    {
        using JsonDocument document = JsonDocument.Parse(TrajectoryFixture.ReadText("catalog.json"));
        return document.RootElement.GetProperty("cases").GetArrayLength();
    }

    private static string Describe(JsonElement c)
        => $"{c.GetProperty("config_name").GetString()} / {(c.GetProperty("name").ValueKind == JsonValueKind.Null ? "CreateFromConfig" : c.GetProperty("name").GetString())}";

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Named_scheduler_on_a_model_config_matches_diffusers_from_config(int index)
    {
        JsonElement c = s_cases.Value[index];
        SchedulerConfig fileConfig = SchedulerConfig.FromJson(c.GetProperty("json").GetString()!, "scheduler_config.json");
        JsonElement name = c.GetProperty("name");
        IScheduler scheduler = name.ValueKind == JsonValueKind.Null
            ? SchedulerCatalog.CreateFromConfig(fileConfig)
            : SchedulerCatalog.Create(name.GetString()!, fileConfig);
        string what = Describe(c);

        Assert.Equal(c.GetProperty("class").GetString(), scheduler.Config.ClassName);
        scheduler.SetTimesteps(c.GetProperty("steps").GetInt32());
        double[] expected = c.GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble()).ToArray();
        Assert.True(expected.Length == scheduler.Timesteps.Length, $"{what}: {scheduler.Timesteps.Length} timesteps, diffusers {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - scheduler.Timesteps[i]) <= 1e-4 * Math.Max(1, Math.Abs(expected[i])),
                $"{what}: timestep {i}: diffusers {expected[i]}, ours {scheduler.Timesteps[i]}");
        }

        float initNoiseSigma = c.GetProperty("init_noise_sigma").GetSingle();
        Assert.True(Math.Abs(initNoiseSigma - scheduler.InitNoiseSigma) <= 1e-5 * Math.Max(1, initNoiseSigma), $"{what}: init_noise_sigma");
        if (c.GetProperty("sigmas").ValueKind != JsonValueKind.Null && SigmasOf(scheduler) is float[] sigmas)
        {
            TrajectoryAssert.Close(TrajectoryFixture.Floats(c.GetProperty("sigmas")), sigmas, $"{what}: sigmas");
        }
    }

    private static float[]? SigmasOf(IScheduler scheduler) => scheduler switch
    {
        DpmSolverMultistepScheduler s => s.Sigmas.ToArray(),
        DpmSolverSinglestepScheduler s => s.Sigmas.ToArray(),
        UniPcMultistepScheduler s => s.Sigmas.ToArray(),
        EulerDiscreteScheduler s => s.Sigmas.ToArray(),
        EulerAncestralDiscreteScheduler s => s.Sigmas.ToArray(),
        HeunDiscreteScheduler s => s.Sigmas.ToArray(),
        _ => null,
    };

    [Theory]
    [InlineData("DPM++ 2M", typeof(DpmSolverMultistepScheduler))]
    [InlineData("dpm++ 2m karras", typeof(DpmSolverMultistepScheduler))]
    [InlineData("DPMSolverMultistepScheduler", typeof(DpmSolverMultistepScheduler))]
    [InlineData("dpmsolvermultistepscheduler", typeof(DpmSolverMultistepScheduler))]
    [InlineData("Euler a", typeof(EulerAncestralDiscreteScheduler))]
    [InlineData("euler_ancestral", typeof(EulerAncestralDiscreteScheduler))]
    [InlineData("euler", typeof(EulerDiscreteScheduler))]
    [InlineData("euler + normal", typeof(EulerDiscreteScheduler))]
    [InlineData("DDIM", typeof(DdimScheduler))]
    [InlineData("ddim+ddim_uniform", typeof(DdimScheduler))]
    [InlineData("PLMS", typeof(PndmScheduler))]
    [InlineData("LMS Karras", typeof(LmsDiscreteScheduler))]
    [InlineData("Heun", typeof(HeunDiscreteScheduler))]
    [InlineData("DPM2", typeof(KDpm2DiscreteScheduler))]
    [InlineData("DPM2 a Karras", typeof(KDpm2AncestralDiscreteScheduler))]
    [InlineData("dpm_2", typeof(KDpm2DiscreteScheduler))]
    [InlineData("dpmpp_2m_sde+karras", typeof(DpmSolverMultistepScheduler))]
    [InlineData("DPM++ 2S a", typeof(DpmSolverSinglestepScheduler))]
    [InlineData("UniPC", typeof(UniPcMultistepScheduler))]
    [InlineData("uni_pc", typeof(UniPcMultistepScheduler))]
    [InlineData("LCM", typeof(LcmScheduler))]
    [InlineData("TCDScheduler", typeof(TcdScheduler))]
    [InlineData("DEISMultistepScheduler", typeof(DeisMultistepScheduler))]
    [InlineData("DDPM", typeof(DdpmScheduler))]
    public void Name_selects_its_scheduler_class_case_insensitively(string name, Type expected)
        => Assert.IsType(expected, SchedulerCatalog.Create(name, SchedulerConfig.StableDiffusion15));

    [Fact]
    public void Karras_and_sde_names_set_their_overrides_on_top_of_the_model_config()
    {
        IScheduler scheduler = SchedulerCatalog.Create("DPM++ 2M SDE Karras", SchedulerConfig.StableDiffusion15);
        Assert.True(scheduler.Config.UseKarrasSigmas);
        Assert.Equal("sde-dpmsolver++", scheduler.Config.AlgorithmType);
        Assert.Equal(0.00085, scheduler.Config.BetaStart);
    }

    [Fact]
    public void Unknown_name_is_an_invalid_option_listing_the_known_names()
    {
        var error = Assert.Throws<InvalidOptionException>(() => SchedulerCatalog.Create("DPM++ 9M", SchedulerConfig.StableDiffusion15));
        Assert.Equal("Scheduler", error.OptionName);
        Assert.Contains("'DPM++ 9M'", error.Message, StringComparison.Ordinal);
        Assert.Contains("DPM++ 2M Karras", error.Message, StringComparison.Ordinal);
        Assert.Contains("euler_ancestral", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsupported_class_name_is_an_invalid_option()
    {
        var error = Assert.Throws<InvalidOptionException>(() => SchedulerCatalog.CreateFromConfig(
            SchedulerConfig.StableDiffusion15 with { ClassName = "DPMSolverSDEScheduler" }));
        Assert.Contains("_class_name", error.OptionName, StringComparison.Ordinal);
        Assert.Contains("DPMSolverMultistepScheduler", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_cover_diffusers_a1111_and_comfyui_spellings_once_each()
    {
        IReadOnlyList<string> names = SchedulerCatalog.Names;
        Assert.Contains("EulerDiscreteScheduler", names);
        Assert.Contains("DPM++ 2M Karras", names);
        Assert.Contains("dpmpp_2m+karras", names);
        Assert.Equal(names.Count, names.Select(n => n.ToLowerInvariant()).Distinct().Count());
        foreach (string name in names)
        {
            // The flow-matching classes are created on a flow-matching model's config (SD3/FLUX); the rest on SD 1.5's.
            SchedulerConfig config = name.StartsWith("FlowMatch", StringComparison.Ordinal)
                ? new SchedulerConfig { ClassName = "FlowMatchEulerDiscreteScheduler", Shift = 3.0 }
                : SchedulerConfig.StableDiffusion15;
            Assert.NotNull(SchedulerCatalog.Create(name, config));
        }
    }

    [Fact]
    public void Code_built_config_is_taken_as_is()
    {
        // No SpecifiedFields (built in code): every field counts as chosen and carries over as is.
        IScheduler scheduler = SchedulerCatalog.Create("DPM++ 2M", new SchedulerConfig { TimestepSpacing = "trailing" });
        Assert.Equal("trailing", scheduler.Config.TimestepSpacing);
    }

    [Fact]
    public void Accepts_agrees_with_Create_for_every_name_and_both_kinds_of_model()
    {
        var diffusion = new SchedulerConfig { ClassName = "EulerDiscreteScheduler" };
        var flow = new SchedulerConfig { ClassName = "FlowMatchEulerDiscreteScheduler" };
        foreach (string name in SchedulerCatalog.Names.Concat(SchedulerCatalog.FlowMatchingNames).Append("Euler b").Append("dpm++ 2m KARRAS"))
        {
            foreach ((SchedulerConfig config, bool isFlow) in new[] { (diffusion, false), (flow, true) })
            {
                bool created;
                try
                {
                    SchedulerCatalog.Create(name, config);
                    created = true;
                }
                catch (InvalidOptionException)
                {
                    created = false;
                }
                Assert.True(created == SchedulerCatalog.Accepts(name, isFlow), $"'{name}' on a {(isFlow ? "flow-matching" : "diffusion")} model: Create {(created ? "accepts" : "refuses")} it");
            }
        }
    }
}
