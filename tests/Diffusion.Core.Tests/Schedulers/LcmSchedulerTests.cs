using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// LcmScheduler against diffusers' LCMScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/lcm.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class LcmSchedulerTests
{
    private const string FixtureFile = "lcm.json";
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
        var scheduler = new LcmScheduler(fixture.Config);
        scheduler.SetTimesteps(fixture.Steps);
        Assert.Equal(fixture.Timesteps, scheduler.Timesteps.ToArray().Select(t => (double)t));
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Every_step_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.Replay(new LcmScheduler(fixture.Config), fixture);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void AddNoise_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.AddNoise(new LcmScheduler(fixture.Config), fixture);
    }

    [Theory]
    [MemberData(nameof(DiffusersTestNames))]
    public void Full_loop_of_diffusers_test_suite_gives_its_numbers(string name)
    {
        DiffusersLoopReference reference = s_loops.Value.Single(c => c.Name == name);
        var scheduler = new LcmScheduler(reference.Config);
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
    public void More_steps_than_the_distillation_schedule_are_rejected()
    {
        var scheduler = new LcmScheduler(new SchedulerConfig { OriginalInferenceSteps = 50 });
        Assert.Throws<InvalidOptionException>(() => scheduler.SetTimesteps(51));
    }

    [Fact]
    public void Every_step_but_the_last_requires_a_random_source()
    {
        var scheduler = new LcmScheduler(new SchedulerConfig());
        scheduler.SetTimesteps(2);
        float[] sample = new float[8];
        Assert.Throws<ArgumentNullException>(() => scheduler.Step(new float[8], 0, sample));
        scheduler.Step(new float[8], 1, sample); // the last step returns the denoised sample without noise
    }
}
