using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// FlowMatchEulerDiscreteScheduler and FlowMatchHeunDiscreteScheduler against diffusers' own files (commit 58eb52c),
/// replayed from TestData/flow-match/flow_match.json.gz (tools/reference-data/flow-match/generate_reference.py):
/// every config option, the set_timesteps arguments the SD3 and FLUX.1 pipelines pass, stochastic sampling and Heun
/// churn with diffusers' own noise replayed; 1e-5 relative in float32.
/// </summary>
public sealed class FlowMatchReferenceTests
{
    public static TheoryData<string> CaseNames => new(FlowMatchFixture.All.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Schedule_matches_diffusers(string name)
    {
        FlowMatchFixture fixture = FlowMatchFixture.Case(name);
        FlowMatchSchedulerBase scheduler = fixture.CreateScheduler();
        fixture.SetTimesteps(scheduler);
        ElementwiseClose(fixture.Timesteps, scheduler.Timesteps, $"{name}: timesteps");
        ElementwiseClose(fixture.Sigmas, scheduler.Sigmas, $"{name}: sigmas");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Every_step_matches_diffusers(string name)
    {
        FlowMatchFixture fixture = FlowMatchFixture.Case(name);
        FlowMatchSchedulerBase scheduler = fixture.CreateScheduler();
        fixture.SetTimesteps(scheduler);
        float[] sample = (float[])fixture.InitialSample.Clone();
        float[] input = new float[sample.Length];
        var random = new ReplayRandomSource(fixture.Noise);
        for (int i = 0; i < scheduler.Timesteps.Length; i++)
        {
            scheduler.ScaleModelInput(sample, i, input);
            Assert.Equal(sample, input);
            scheduler.Step(fixture.ModelOutputs[i], i, sample, random);
            TrajectoryAssert.Close(fixture.Samples[i], sample, $"{name}: sample after step {i}");
            // Continue from diffusers' own sample so one step's rounding cannot compound into the next.
            fixture.Samples[i].CopyTo(sample, 0);
        }
        Assert.Equal(fixture.Samples.Length, scheduler.Timesteps.Length);
        Assert.Equal(fixture.Noise.Length, random.DrawCount);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void AddNoise_is_diffusers_scale_noise(string name)
    {
        FlowMatchFixture fixture = FlowMatchFixture.Case(name);
        FlowMatchSchedulerBase scheduler = fixture.CreateScheduler();
        fixture.SetTimesteps(scheduler);
        foreach ((int index, float[] original, float[] noise, float[] result) in fixture.AddNoise)
        {
            float[] destination = new float[original.Length];
            scheduler.AddNoise(original, noise, index, destination);
            TrajectoryAssert.Close(result, destination, $"{name}: scale_noise at step {index}");
        }
    }

    [Fact]
    public void CalculateShift_matches_the_pipelines()
    {
        foreach (JsonElement entry in FlowMatchFixture.Root.GetProperty("calculate_shift").EnumerateArray())
        {
            SchedulerConfig config = TrajectoryFixture.ReadConfig(entry.GetProperty("config"), "FlowMatchEulerDiscreteScheduler");
            double expected = entry.GetProperty("mu").GetDouble();
            double actual = FlowMatchSigmas.CalculateShift(entry.GetProperty("image_seq_len").GetInt32(), config);
            Assert.Equal(expected, actual, 1e-12 * Math.Max(1, Math.Abs(expected)));
        }
    }

    [Fact]
    public void FluxDefaultSigmas_are_the_pipelines_linspace()
    {
        foreach (JsonProperty entry in FlowMatchFixture.Root.GetProperty("flux_default_sigmas").EnumerateObject())
            Assert.Equal(TrajectoryFixture.Floats(entry.Value), FlowMatchSigmas.FluxDefaultSigmas(int.Parse(entry.Name, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Fixture_covers_every_config_option()
    {
        IReadOnlyList<FlowMatchFixture> all = FlowMatchFixture.All;
        Assert.Contains(all, c => c.Config.UseDynamicShifting && c.Config.TimeShiftType == "exponential");
        Assert.Contains(all, c => c.Config.UseDynamicShifting && c.Config.TimeShiftType == "linear");
        Assert.Contains(all, c => c.Config.ShiftTerminal is not null);
        Assert.Contains(all, c => c.Config.InvertSigmas);
        Assert.Contains(all, c => c.Config.UseKarrasSigmas);
        Assert.Contains(all, c => c.Config.UseExponentialSigmas);
        Assert.Contains(all, c => c.Config.UseBetaSigmas);
        Assert.Contains(all, c => c.Config.StochasticSampling && c.Noise.Length > 0);
        Assert.Contains(all, c => c.CustomSigmas is not null && c.Steps is null);
        Assert.Contains(all, c => c.CustomTimesteps is not null && c.CustomSigmas is null);
        Assert.Contains(all, c => c.ClassName == "FlowMatchHeunDiscreteScheduler" && c.Noise.Length > 0);
    }

    /// <summary>Each value within 1e-5 of diffusers' relative to itself (timesteps and sigmas are small lists).</summary>
    private static void ElementwiseClose(float[] expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tolerance = 1e-5 * Math.Abs(expected[i]) + 1e-9;
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"{what}[{i}]: diffusers {expected[i]:R}, ours {actual[i]:R}");
        }
    }
}
