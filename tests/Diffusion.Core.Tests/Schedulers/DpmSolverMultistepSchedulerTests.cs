using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// DpmSolverMultistepScheduler against diffusers' DPMSolverMultistepScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/dpm_multistep.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class DpmSolverMultistepSchedulerTests : DiffusersReplayTests<DpmSolverMultistepSchedulerTests.Spec>
{
    /// <summary>Fixture and factory for the shared replay checks.</summary>
    public sealed class Spec : IReplaySpec
    {
        public static string FixtureFile => "dpm_multistep.json";

        public static SchedulerBase Create(SchedulerConfig config, System.Text.Json.JsonElement stepArguments) => new DpmSolverMultistepScheduler(config);

        public static float[]? Sigmas(SchedulerBase scheduler) => ((DpmSolverMultistepScheduler)scheduler).Sigmas.ToArray();
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
