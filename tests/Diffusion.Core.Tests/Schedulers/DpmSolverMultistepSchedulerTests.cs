using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// DpmSolverMultistepScheduler against diffusers' DPMSolverMultistepScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/dpm_multistep.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class DpmSolverMultistepSchedulerTests
{
    private const string FixtureFile = "dpm_multistep.json";
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
        var scheduler = new DpmSolverMultistepScheduler(fixture.Config);
        scheduler.SetTimesteps(fixture.Steps);
        Assert.Equal(fixture.Timesteps, scheduler.Timesteps.ToArray().Select(t => (double)t));
        TrajectoryAssert.Close(fixture.Sigmas!, scheduler.Sigmas, $"{name}: sigmas");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Every_step_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.Replay(new DpmSolverMultistepScheduler(fixture.Config), fixture);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void AddNoise_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.AddNoise(new DpmSolverMultistepScheduler(fixture.Config), fixture);
    }

    [Theory]
    [MemberData(nameof(DiffusersTestNames))]
    public void Full_loop_of_diffusers_test_suite_gives_its_numbers(string name)
    {
        DiffusersLoopReference reference = s_loops.Value.Single(c => c.Name == name);
        var scheduler = new DpmSolverMultistepScheduler(reference.Config);
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
    public void Sde_variant_requires_a_random_source()
    {
        var scheduler = new DpmSolverMultistepScheduler(new SchedulerConfig { AlgorithmType = "sde-dpmsolver++" });
        scheduler.SetTimesteps(4);
        float[] sample = new float[8];
        Assert.Throws<ArgumentNullException>(() => scheduler.Step(new float[8], 0, sample));
    }

    [Fact]
    public void Zero_final_sigma_is_rejected_for_the_noise_prediction_algorithms()
    {
        var error = Assert.Throws<InvalidOptionException>(() => new DpmSolverMultistepScheduler(
            new SchedulerConfig { AlgorithmType = "dpmsolver", FinalSigmasType = "zero" }));
        Assert.Contains("final_sigmas_type", error.OptionName, StringComparison.Ordinal);
    }

    [Fact]
    public void Steps_out_of_order_are_rejected()
    {
        var scheduler = new DpmSolverMultistepScheduler(new SchedulerConfig());
        scheduler.SetTimesteps(10);
        float[] sample = new float[8];
        scheduler.Step(new float[8], 0, sample);
        Assert.Throws<InvalidOperationException>(() => scheduler.Step(new float[8], 2, sample));
    }
}
