using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// UniPcMultistepScheduler against diffusers' UniPCMultistepScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/unipc_multistep.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class UniPcMultistepSchedulerTests : DiffusersReplayTests<UniPcMultistepSchedulerTests.Spec>
{
    /// <summary>Fixture and factory for the shared replay checks.</summary>
    public sealed class Spec : IReplaySpec
    {
        public static string FixtureFile => "unipc_multistep.json";

        public static SchedulerBase Create(SchedulerConfig config, System.Text.Json.JsonElement stepArguments) => new UniPcMultistepScheduler(config);

        public static float[]? Sigmas(SchedulerBase scheduler) => ((UniPcMultistepScheduler)scheduler).Sigmas.ToArray();
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
