using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// Image-to-image as diffusers' pipelines run it (generate_scheduler_reference.py, run_img2img): 10 steps,
/// set_begin_index(4·order), add_noise at that step, then the loop from there. AddNoise at the start index and
/// multistep schedulers starting part-way must match diffusers to 1e-5.
/// </summary>
public sealed class Img2ImgReferenceTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string scheduler in SchedulerFixture.SchedulerNames)
        {
            foreach (JsonElement testCase in SchedulerFixture.Document(scheduler + ".json").GetProperty("cases").EnumerateArray())
            {
                if (testCase.TryGetProperty("img2img", out _))
                    data.Add(scheduler, testCase.GetProperty("name").GetString()!);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void StartingPartWayMatchesDiffusers(string schedulerName, string caseName)
    {
        JsonElement document = SchedulerFixture.Document(schedulerName + ".json");
        JsonElement testCase = document.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == caseName);
        JsonElement run = testCase.GetProperty("img2img");
        SchedulerBase scheduler = SchedulerFixture.Create(schedulerName, SchedulerConfig.FromJson(testCase.GetProperty("config").GetRawText(), "scheduler_config.json"));
        scheduler.SetTimesteps(run.GetProperty("steps").GetInt32());
        int begin = run.GetProperty("begin").GetInt32();
        Assert.Equal(begin, 4 * scheduler.Order);

        float[] original = SchedulerFixture.Floats(document.GetProperty("sample"));
        float[] noise = SchedulerFixture.Floats(document.GetProperty("add_noise_noise"));
        float[] bias = SchedulerFixture.Floats(document.GetProperty("bias"));
        var sample = new float[original.Length];
        scheduler.AddNoise(original, noise, begin, sample);
        var input = new float[sample.Length];
        var output = new float[sample.Length];
        var random = new FormulaNoiseSource();
        double[] expectedSums = SchedulerFixture.Doubles(run.GetProperty("abs_sums"));
        Assert.Equal(expectedSums.Length, scheduler.Timesteps.Length - begin);
        double worstSum = 0;
        for (int i = begin; i < scheduler.Timesteps.Length; i++)
        {
            scheduler.ScaleModelInput(sample, i, input);
            SchedulerFixture.DummyModel(input, scheduler.Timesteps[i], bias, output);
            scheduler.Step(output, i, sample, random);
            double sum = 0;
            foreach (float x in sample)
                sum += Math.Abs(x);
            worstSum = Math.Max(worstSum, Math.Abs(sum - expectedSums[i - begin]) / expectedSums[i - begin]);
        }
        double finalError = SchedulerFixture.ScaledError(sample, SchedulerFixture.Floats(run.GetProperty("final")));
        Assert.Equal(run.GetProperty("noise_draws").GetInt32(), random.Draws);
        ErrorLog.Record($"img2img/{schedulerName}/{caseName}", [("abs_sums", worstSum), ("final", finalError)]);
        Assert.True(worstSum <= 1e-5, $"Σ|x| differs from diffusers by {worstSum:E2}");
        Assert.True(finalError <= 1e-5, $"final sample differs from diffusers by {finalError:E2}");
    }
}
