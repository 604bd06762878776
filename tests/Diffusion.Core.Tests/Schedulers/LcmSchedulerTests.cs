using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// LcmScheduler against diffusers' LCMScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/lcm.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class LcmSchedulerTests : DiffusersReplayTests<LcmSchedulerTests.Spec>
{
    /// <summary>Fixture and factory for the shared replay checks.</summary>
    public sealed class Spec : IReplaySpec
    {
        public static string FixtureFile => "lcm.json";

        public static SchedulerBase Create(SchedulerConfig config, System.Text.Json.JsonElement stepArguments) => new LcmScheduler(config);

        public static float[]? Sigmas(SchedulerBase scheduler) => null;
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
