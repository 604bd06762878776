using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// DeisMultistepScheduler against diffusers' DEISMultistepScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/deis_multistep.json.gz (tools/reference-data/schedulers-b/generate_reference.py), including the
/// full loops diffusers' own tests/schedulers/test_scheduler_deis.py asserts.
/// </summary>
public sealed class DeisMultistepSchedulerTests : DiffusersReplayTests<DeisMultistepSchedulerTests.Spec>
{
    /// <summary>Fixture and factory for the shared replay checks.</summary>
    public sealed class Spec : IReplaySpec
    {
        public static string FixtureFile => "deis_multistep.json";

        public static SchedulerBase Create(SchedulerConfig config, System.Text.Json.JsonElement stepArguments) => new DeisMultistepScheduler(config);

        public static float[]? Sigmas(SchedulerBase scheduler) => ((DeisMultistepScheduler)scheduler).Sigmas.ToArray();

        // diffusers computes the log-rho coefficients with numpy's float32 log, which is not correctly rounded (it
        // differs from a correctly rounded logf in ~8% of arguments); the third-order coefficients cancel, so one ulp of
        // log shows as up to ~3e-5 relative in a step (measured by swapping numpy's log for a correctly rounded one).
        public static double StepTolerance => 1e-4;
    }

    [Fact]
    public void Steps_out_of_order_are_refused()
    {
        var scheduler = new DeisMultistepScheduler(SchedulerConfig.StableDiffusion15);
        scheduler.SetTimesteps(5);
        float[] sample = [1f, -0.5f, 0.25f, 2f];
        scheduler.Step([0.1f, 0.2f, -0.3f, 0.4f], 0, sample);
        Assert.Throws<InvalidOperationException>(() => scheduler.Step([0.1f, 0.2f, -0.3f, 0.4f], 2, sample));
    }

    [Theory]
    [InlineData("solver_order", 4)]
    public void Unsupported_solver_order_names_the_key(string key, int order)
    {
        var error = Assert.Throws<InvalidOptionException>(() => new DeisMultistepScheduler(new SchedulerConfig { SolverOrder = order }));
        Assert.Contains(key, error.OptionName, StringComparison.Ordinal);
    }

    [Fact]
    public void Flow_sigmas_are_refused_by_name()
    {
        var error = Assert.Throws<InvalidOptionException>(() => new DeisMultistepScheduler(new SchedulerConfig { UseFlowSigmas = true }));
        Assert.Contains("use_flow_sigmas", error.OptionName, StringComparison.Ordinal);
    }

    [Fact]
    public void Steady_steps_allocate_nothing()
    {
        var scheduler = new DeisMultistepScheduler(SchedulerConfig.StableDiffusion15 with { SolverOrder = 3 });
        scheduler.SetTimesteps(20);
        float[] sample = new float[64];
        float[] output = new float[64];
        Array.Fill(output, 0.1f);
        scheduler.Step(output, 0, sample);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 1; i < 20; i++)
            scheduler.Step(output, i, sample);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
