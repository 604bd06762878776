using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// UniPcMultistepScheduler against diffusers' UniPCMultistepScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/unipc_multistep.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class UniPcMultistepSchedulerTests
{
    private const string FixtureFile = "unipc_multistep.json";
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
        var scheduler = new UniPcMultistepScheduler(fixture.Config);
        scheduler.SetTimesteps(fixture.Steps);
        Assert.Equal(fixture.Timesteps, scheduler.Timesteps.ToArray().Select(t => (double)t));
        TrajectoryAssert.Close(fixture.Sigmas!, scheduler.Sigmas, $"{name}: sigmas");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Every_step_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.Replay(new UniPcMultistepScheduler(fixture.Config), fixture);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void AddNoise_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.AddNoise(new UniPcMultistepScheduler(fixture.Config), fixture);
    }

    [Theory]
    [MemberData(nameof(DiffusersTestNames))]
    public void Full_loop_of_diffusers_test_suite_gives_its_numbers(string name)
    {
        DiffusersLoopReference reference = s_loops.Value.Single(c => c.Name == name);
        var scheduler = new UniPcMultistepScheduler(reference.Config);
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
    public void Midpoint_solver_type_of_a_shared_config_is_read_as_bh2()
    {
        // diffusers' UniPCMultistepScheduler re-registers midpoint/heun/logrho as bh2.
        var config = new SchedulerConfig { SolverType = "midpoint" };
        var fromMidpoint = new UniPcMultistepScheduler(config);
        var fromBh2 = new UniPcMultistepScheduler(config with { SolverType = "bh2" });
        float[] a = Run(fromMidpoint), b = Run(fromBh2);
        Assert.Equal(b, a);

        static float[] Run(UniPcMultistepScheduler scheduler)
        {
            scheduler.SetTimesteps(5);
            float[] sample = [1f, -0.5f, 0.25f, 2f];
            for (int i = 0; i < 5; i++)
            {
                scheduler.Step([0.1f * i, 0.2f, -0.3f, 0.4f], i, sample);
            }

            return sample;
        }
    }

    [Fact]
    public void Steps_out_of_order_are_rejected()
    {
        var scheduler = new UniPcMultistepScheduler(new SchedulerConfig());
        scheduler.SetTimesteps(10);
        float[] sample = new float[8];
        scheduler.Step(new float[8], 0, sample);
        Assert.Throws<InvalidOperationException>(() => scheduler.Step(new float[8], 2, sample));
    }
}
