using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// The full loops of diffusers' tests/schedulers/test_scheduler_*.py (dummy_sample_deter, dummy_model
/// x·t/(t+1), 10 steps; the sigma schedulers' tests overwrite the sample with the scaled model input). Each
/// must give the Σ|x| and mean |x| those tests assert (with their tolerances), and Σ|x| within 1e-5 of what
/// diffusers computes here (official.json). Loops seeded with torch.manual_seed(0) replay the recorded
/// torch noise.
/// </summary>
public sealed class DiffusersTestLoopTests
{
    public static TheoryData<string> Loops()
    {
        var data = new TheoryData<string>();
        foreach (JsonElement loop in SchedulerFixture.Document("official.json").GetProperty("loops").EnumerateArray())
        {
            // Seeded ancestral loops whose torch noise is not stored cannot be replayed.
            string className = loop.GetProperty("config").GetProperty("_class_name").GetString()!;
            bool drawsNoise = className.Contains("Ancestral", StringComparison.Ordinal);
            if (!drawsNoise || loop.GetProperty("noise").GetArrayLength() > 0)
                data.Add(loop.GetProperty("name").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Loops))]
    public void ReproducesTheNumbersDiffusersTestsAssert(string name)
    {
        JsonElement loop = SchedulerFixture.Document("official.json").GetProperty("loops").EnumerateArray()
            .First(l => l.GetProperty("name").GetString() == name);
        JsonElement configJson = loop.GetProperty("config");
        string className = configJson.GetProperty("_class_name").GetString()!;
        // The tests build schedulers from a partial config: the scheduler fills the rest with its diffusers defaults.
        SchedulerConfig config = SchedulerConfig.FromJson(configJson.GetRawText(), "scheduler_config.json");
        SchedulerBase scheduler = SchedulerFixture.Create(className, config);
        scheduler.SetTimesteps(loop.GetProperty("steps").GetInt32());

        float[] sample = DummySampleDeter();
        float init = scheduler.InitNoiseSigma;
        for (int i = 0; i < sample.Length; i++)
            sample[i] *= init;
        var output = new float[sample.Length];
        var noise = new ReplayNoiseSource(loop.GetProperty("noise").EnumerateArray().Select(SchedulerFixture.Floats).ToArray());
        for (int i = 0; i < scheduler.Timesteps.Length; i++)
        {
            scheduler.ScaleModelInput(sample, i, sample);
            SchedulerFixture.DummyModel(sample, scheduler.Timesteps[i], default, output);
            scheduler.Step(output, i, sample, noise);
        }

        double sum = 0;
        foreach (float x in sample)
            sum += Math.Abs(x);
        double mean = sum / sample.Length;
        // The test files' assertions: |sum - expected| < 1e-2, |mean - expected| < 1e-3 (5e-3 for KDPM2 ancestral).
        Assert.InRange(sum, loop.GetProperty("expected_sum").GetDouble() - 1e-2, loop.GetProperty("expected_sum").GetDouble() + 1e-2);
        double meanTolerance = name.StartsWith("kdpm2_ancestral", StringComparison.Ordinal) ? 5e-3 : 1e-3;
        Assert.InRange(mean, loop.GetProperty("expected_mean").GetDouble() - meanTolerance, loop.GetProperty("expected_mean").GetDouble() + meanTolerance);
        double localSum = loop.GetProperty("local_sum").GetDouble();
        double error = Math.Abs(sum - localSum) / Math.Max(localSum, 1e-3);
        ErrorLog.Record("official/" + name, [("sum", error)]);
        Assert.True(error <= 1e-5, $"{name}: Σ|x| = {sum}, diffusers {localSum} (relative error {error:E2})");
    }

    /// <summary>diffusers' dummy_sample_deter: arange(768).reshape(3, 8, 8, 4) / 768, permuted to (4, 3, 8, 8).</summary>
    private static float[] DummySampleDeter()
    {
        const int batch = 4, channels = 3, height = 8, width = 8, count = batch * channels * height * width;
        var sample = new float[count];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
                for (int h = 0; h < height; h++)
                    for (int w = 0; w < width; w++)
                        sample[((b * channels + c) * height + h) * width + w] = (float)(((c * height + h) * width + w) * batch + b) / count;
        return sample;
    }
}
