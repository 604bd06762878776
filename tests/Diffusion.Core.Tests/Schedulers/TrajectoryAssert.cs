using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>Replays recorded diffusers runs through a scheduler and compares every intermediate result.</summary>
internal static class TrajectoryAssert
{
    /// <summary>Relative tolerance: max |ours - diffusers| over a tensor, divided by max |diffusers| (at least 1e-3).</summary>
    public const double Tolerance = 1e-5;

    /// <summary>Max |a - b| / max(max |expected|, 1e-3).</summary>
    public static double RelativeError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxRef = 1e-3;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs((double)expected[i] - actual[i]));
            maxRef = Math.Max(maxRef, Math.Abs((double)expected[i]));
        }

        return maxDiff / maxRef;
    }

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, double tolerance = Tolerance)
    {
        double error = RelativeError(expected, actual);
        Assert.True(error <= tolerance, $"{what}: relative error {error:E3} > {tolerance:E1}");
    }

    /// <summary>Checks the schedule, then steps through the recorded model outputs comparing each sample; returns the worst relative error.</summary>
    public static double Replay(IScheduler scheduler, TrajectoryFixture fixture, double tolerance = Tolerance)
    {
        scheduler.SetTimesteps(fixture.Steps);
        Assert.Equal(fixture.Timesteps.Length, scheduler.Timesteps.Length);
        for (int i = 0; i < fixture.Timesteps.Length; i++)
        {
            Assert.True(Math.Abs(fixture.Timesteps[i] - scheduler.Timesteps[i]) <= 1e-4 * Math.Max(1, Math.Abs(fixture.Timesteps[i])),
                $"timestep {i}: diffusers {fixture.Timesteps[i]}, ours {scheduler.Timesteps[i]}");
        }

        Assert.Equal(fixture.InitNoiseSigma, scheduler.InitNoiseSigma, 5e-6f * Math.Max(1f, fixture.InitNoiseSigma));
        Assert.Equal(fixture.Order, scheduler.Order);

        float[] sample = (float[])fixture.InitialSample.Clone();
        float[] scaled = new float[sample.Length];
        var random = new ReplayRandomSource(fixture.Noise);
        double worst = 0;
        for (int i = 0; i < fixture.Timesteps.Length; i++)
        {
            scheduler.ScaleModelInput(sample, i, scaled);
            scheduler.Step(fixture.ModelOutputs[i], i, sample, random);
            double error = RelativeError(fixture.Samples[i], sample);
            worst = Math.Max(worst, error);
            Assert.True(error <= tolerance, $"{fixture.Name}: sample after step {i}: relative error {error:E3} > {tolerance:E1}");
            // Continue from diffusers' own sample so one step's rounding cannot compound into the next.
            fixture.Samples[i].CopyTo(sample, 0);
        }

        Assert.Equal(fixture.Noise.Length, random.DrawCount);
        return worst;
    }

    /// <summary>Checks AddNoise at each recorded step index against diffusers' add_noise.</summary>
    public static void AddNoise(IScheduler scheduler, TrajectoryFixture fixture)
    {
        scheduler.SetTimesteps(fixture.Steps);
        foreach ((int index, float[] original, float[] noise, float[] result) in fixture.AddNoise)
        {
            float[] destination = new float[original.Length];
            scheduler.AddNoise(original, noise, index, destination);
            Close(result, destination, $"{fixture.Name}: add_noise at step {index}");
        }
    }
}
