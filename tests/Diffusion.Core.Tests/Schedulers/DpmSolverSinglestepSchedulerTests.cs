using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// DpmSolverSinglestepScheduler against diffusers' DPMSolverSinglestepScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/dpm_singlestep.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class DpmSolverSinglestepSchedulerTests
{
    private const string FixtureFile = "dpm_singlestep.json";
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
        var scheduler = new DpmSolverSinglestepScheduler(fixture.Config);
        scheduler.SetTimesteps(fixture.Steps);
        Assert.Equal(fixture.Timesteps, scheduler.Timesteps.ToArray().Select(t => (double)t));
        TrajectoryAssert.Close(fixture.Sigmas!, scheduler.Sigmas, $"{name}: sigmas");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Every_step_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.Replay(new DpmSolverSinglestepScheduler(fixture.Config), fixture);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void AddNoise_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.AddNoise(new DpmSolverSinglestepScheduler(fixture.Config), fixture);
    }

    [Theory]
    [MemberData(nameof(DiffusersTestNames))]
    public void Full_loop_of_diffusers_test_suite_gives_its_numbers(string name)
    {
        DiffusersLoopReference reference = s_loops.Value.Single(c => c.Name == name);
        var scheduler = new DpmSolverSinglestepScheduler(reference.Config);
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
    public void Order_list_alternates_first_and_second_order_and_ends_first_order()
    {
        // diffusers get_order_list(10) for solver_order=2, lower_order_final forced on by final_sigmas_type=zero.
        var scheduler = new DpmSolverSinglestepScheduler(new SchedulerConfig { LowerOrderFinal = false });
        scheduler.SetTimesteps(10);
        Assert.Equal([1, 2, 1, 2, 1, 2, 1, 2, 1, 1], scheduler.OrderList.ToArray());
    }

    [Fact]
    public void Sde_variant_requires_a_random_source()
    {
        var scheduler = new DpmSolverSinglestepScheduler(new SchedulerConfig { AlgorithmType = "sde-dpmsolver++" });
        scheduler.SetTimesteps(4);
        float[] sample = new float[8];
        Assert.Throws<ArgumentNullException>(() => scheduler.Step(new float[8], 0, sample));
    }

    [Fact]
    public void Sde_dpmsolver_algorithm_is_not_offered()
    {
        var error = Assert.Throws<InvalidOptionException>(() => new DpmSolverSinglestepScheduler(
            new SchedulerConfig { AlgorithmType = "sde-dpmsolver", FinalSigmasType = "sigma_min" }));
        Assert.Contains("algorithm_type", error.OptionName, StringComparison.Ordinal);
    }
}
