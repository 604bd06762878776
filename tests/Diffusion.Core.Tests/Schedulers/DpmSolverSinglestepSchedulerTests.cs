using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// DpmSolverSinglestepScheduler against diffusers' DPMSolverSinglestepScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/dpm_singlestep.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class DpmSolverSinglestepSchedulerTests : DiffusersReplayTests<DpmSolverSinglestepSchedulerTests.Spec>
{
    /// <summary>Fixture and factory for the shared replay checks.</summary>
    public sealed class Spec : IReplaySpec
    {
        public static string FixtureFile => "dpm_singlestep.json";

        public static SchedulerBase Create(SchedulerConfig config, System.Text.Json.JsonElement stepArguments) => new DpmSolverSinglestepScheduler(config);

        public static float[]? Sigmas(SchedulerBase scheduler) => ((DpmSolverSinglestepScheduler)scheduler).Sigmas.ToArray();
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
