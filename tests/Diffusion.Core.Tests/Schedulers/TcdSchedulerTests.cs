using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// TcdScheduler against diffusers' TCDScheduler (commit 58eb52c), replayed from
/// TestData/schedulers-b/tcd.json.gz (tools/reference-data/schedulers-b/generate_reference.py).
/// </summary>
public sealed class TcdSchedulerTests : DiffusersReplayTests<TcdSchedulerTests.Spec>
{
    /// <summary>Fixture and factory for the shared replay checks.</summary>
    public sealed class Spec : IReplaySpec
    {
        public static string FixtureFile => "tcd.json";

        // diffusers passes TCD's gamma to step() as "eta" (default 0.3).
        public static SchedulerBase Create(SchedulerConfig config, JsonElement stepArguments) =>
            new TcdScheduler(config, stepArguments.TryGetProperty("eta", out JsonElement eta) ? eta.GetSingle() : 0.3f);

        public static float[]? Sigmas(SchedulerBase scheduler) => null;
    }

    [Fact]
    public void Default_gamma_is_diffusers_step_default()
        => Assert.Equal(0.3f, new TcdScheduler(new SchedulerConfig()).Gamma);

    [Fact]
    public void Gamma_outside_zero_to_one_is_rejected()
        => Assert.Throws<InvalidOptionException>(() => new TcdScheduler(new SchedulerConfig(), 1.5f));

    [Fact]
    public void Deterministic_gamma_needs_no_random_source()
    {
        var scheduler = new TcdScheduler(new SchedulerConfig(), 0f);
        scheduler.SetTimesteps(2);
        float[] sample = new float[8];
        scheduler.Step(new float[8], 0, sample);
        scheduler.Step(new float[8], 1, sample);
    }
}
