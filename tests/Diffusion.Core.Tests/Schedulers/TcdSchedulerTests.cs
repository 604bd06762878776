using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// TcdScheduler against diffusers' TCDScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/tcd.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class TcdSchedulerTests
{
    private const string FixtureFile = "tcd.json";
    private static readonly Lazy<IReadOnlyList<TrajectoryFixture>> s_cases = new(() => TrajectoryFixture.Load(FixtureFile));
    private static readonly Lazy<IReadOnlyList<DiffusersLoopReference>> s_loops = new(() => TrajectoryFixture.LoadDiffusersTests(FixtureFile));

    public static TheoryData<string> CaseNames => new(TrajectoryFixture.Load(FixtureFile).Select(c => c.Name));

    public static TheoryData<string> DiffusersTestNames => new(TrajectoryFixture.LoadDiffusersTests(FixtureFile).Select(c => c.Name));

    private static TrajectoryFixture Case(string name) => s_cases.Value.Single(c => c.Name == name);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Schedule_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        var scheduler = new TcdScheduler(fixture.Config, Gamma(fixture.StepArguments));
        scheduler.SetTimesteps(fixture.Steps);
        Assert.Equal(fixture.Timesteps, scheduler.Timesteps.ToArray().Select(t => (double)t));
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Every_step_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.Replay(new TcdScheduler(fixture.Config, Gamma(fixture.StepArguments)), fixture);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void AddNoise_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.AddNoise(new TcdScheduler(fixture.Config, Gamma(fixture.StepArguments)), fixture);
    }

    [Theory]
    [MemberData(nameof(DiffusersTestNames))]
    public void Full_loop_of_diffusers_test_suite_gives_its_numbers(string name)
    {
        DiffusersLoopReference reference = s_loops.Value.Single(c => c.Name == name);
        var scheduler = new TcdScheduler(reference.Config, Gamma(reference.StepArguments));
        (double sum, double mean) = DiffusersTestLoop.Run(scheduler, reference.Steps, new ReplayRandomSource(reference.Noise), reference.StartIndex, reference.AddNoise);

        // Our run of diffusers' code at 1e-5, and diffusers' own asserted value at its own tolerance.
        Assert.Equal(reference.MeanAbs, mean, 1e-5 * reference.MeanAbs);
        Assert.Equal(reference.SumAbs, sum, 1e-5 * reference.SumAbs);
        if (reference.ExpectedMeanAbs is double expectedMean)
        {
            Assert.Equal(expectedMean, mean, 1e-3);
        }

        if (reference.ExpectedSumAbs is double expectedSum)
        {
            Assert.Equal(expectedSum, sum, 1e-2);
        }
    }

    [Fact]
    public void Default_gamma_is_diffusers_step_default()
        => Assert.Equal(0.3f, new TcdScheduler(new SchedulerConfig()).Gamma);

    [Fact]
    public void Gamma_outside_zero_to_one_is_rejected()
        => Assert.Throws<InvalidOptionException>(() => new TcdScheduler(new SchedulerConfig(), 1.5f));

    [Fact]
    public void Deterministic_gamma_needs_no_random_source()
    {
        var scheduler = new TcdScheduler(new SchedulerConfig(), 0f);
        scheduler.SetTimesteps(2);
        float[] sample = new float[8];
        scheduler.Step(new float[8], 0, sample);
        scheduler.Step(new float[8], 1, sample);
    }

    private static float Gamma(System.Text.Json.JsonElement stepArguments)
        => stepArguments.TryGetProperty("eta", out var eta) ? eta.GetSingle() : 0.3f;
}
