using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>What a reference-replay test class needs to know about its scheduler and fixture.</summary>
public interface IReplaySpec
{
    /// <summary>The fixture under TestData/schedulers-b (tools/reference-data/schedulers-b/generate_reference.py).</summary>
    static abstract string FixtureFile { get; }

    /// <summary>
    /// Builds the scheduler under test for a case: its config and the arguments diffusers' <c>step()</c> was called
    /// with (TCD takes its gamma from them).
    /// </summary>
    static abstract SchedulerBase Create(SchedulerConfig config, JsonElement stepArguments);

    /// <summary>The scheduler's sigmas after SetTimesteps, or null for a scheduler without a sigma schedule.</summary>
    static abstract float[]? Sigmas(SchedulerBase scheduler);

    /// <summary>Relative tolerance of each replayed step (1e-5 unless the reference's own rounding is known to be looser).</summary>
    static virtual double StepTolerance => TrajectoryAssert.Tolerance;
}

/// <summary>
/// The checks every diffusers-replayed scheduler shares: schedule, every step, add_noise and diffusers' own test
/// loops, against the fixture <typeparamref name="TSpec"/> names. Derived classes add scheduler-specific tests.
/// </summary>
public abstract class DiffusersReplayTests<TSpec> where TSpec : IReplaySpec
{
    private static readonly Lazy<IReadOnlyList<TrajectoryFixture>> s_cases = new(() => TrajectoryFixture.Load(TSpec.FixtureFile));
    private static readonly Lazy<IReadOnlyList<DiffusersLoopReference>> s_loops = new(() => TrajectoryFixture.LoadDiffusersTests(TSpec.FixtureFile));

    public static TheoryData<string> CaseNames => new(TrajectoryFixture.Load(TSpec.FixtureFile).Select(c => c.Name));

    public static TheoryData<string> DiffusersTestNames => new(TrajectoryFixture.LoadDiffusersTests(TSpec.FixtureFile).Select(c => c.Name));

    private static TrajectoryFixture Case(string name) => s_cases.Value.Single(c => c.Name == name);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Schedule_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        SchedulerBase scheduler = TSpec.Create(fixture.Config, fixture.StepArguments);
        scheduler.SetTimesteps(fixture.Steps);
        Assert.Equal(fixture.Timesteps, scheduler.Timesteps.ToArray().Select(t => (double)t));
        if (TSpec.Sigmas(scheduler) is { } sigmas)
            TrajectoryAssert.Close(fixture.Sigmas!, sigmas, $"{name}: sigmas");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Every_step_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.Replay(TSpec.Create(fixture.Config, fixture.StepArguments), fixture, TSpec.StepTolerance);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void AddNoise_matches_diffusers(string name)
    {
        TrajectoryFixture fixture = Case(name);
        TrajectoryAssert.AddNoise(TSpec.Create(fixture.Config, fixture.StepArguments), fixture);
    }

    [Theory]
    [MemberData(nameof(DiffusersTestNames))]
    public void Full_loop_of_diffusers_test_suite_gives_its_numbers(string name)
    {
        DiffusersLoopReference reference = s_loops.Value.Single(c => c.Name == name);
        SchedulerBase scheduler = TSpec.Create(reference.Config, reference.StepArguments);
        (double sum, double mean) = DiffusersTestLoop.Run(scheduler, reference.Steps, new ReplayRandomSource(reference.Noise), reference.StartIndex, reference.AddNoise);

        // Our run of diffusers' code at 1e-5, and diffusers' own asserted value at its own tolerance.
        Assert.Equal(reference.MeanAbs, mean, 1e-5 * reference.MeanAbs);
        Assert.Equal(reference.SumAbs, sum, 1e-5 * reference.SumAbs);
        if (reference.ExpectedMeanAbs is double expectedMean)
            Assert.Equal(expectedMean, mean, 1e-3);
        if (reference.ExpectedSumAbs is double expectedSum)
            Assert.Equal(expectedSum, sum, 1e-2);
    }
}
