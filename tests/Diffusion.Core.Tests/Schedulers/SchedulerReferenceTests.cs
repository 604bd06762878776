using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// Every scheduler, config case and step count recorded by generate_scheduler_reference.py from diffusers'
/// own scheduler code: timesteps, sigmas, init_noise_sigma, the scaled model input, Σ|x| after every step,
/// the final sample and add_noise must match to 1e-5 (relative to the array's largest magnitude).
/// </summary>
public sealed class SchedulerReferenceTests
{
    /// <summary>Tolerance of the brief: 1e-5 relative in float32.</summary>
    private const double Tolerance = 1e-5;

    public static TheoryData<string, string, int> Runs()
    {
        var data = new TheoryData<string, string, int>();
        foreach (string scheduler in SchedulerFixture.SchedulerNames)
        {
            foreach (JsonElement testCase in SchedulerFixture.Document(scheduler + ".json").GetProperty("cases").EnumerateArray())
            {
                foreach (JsonElement run in testCase.GetProperty("runs").EnumerateArray())
                    data.Add(scheduler, testCase.GetProperty("name").GetString()!, run.GetProperty("steps").GetInt32());
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void MatchesDiffusers(string schedulerName, string caseName, int steps)
    {
        JsonElement document = SchedulerFixture.Document(schedulerName + ".json");
        JsonElement testCase = document.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == caseName);
        JsonElement run = testCase.GetProperty("runs").EnumerateArray().First(r => r.GetProperty("steps").GetInt32() == steps);
        SchedulerConfig config = SchedulerConfig.FromJson(testCase.GetProperty("config").GetRawText(), "scheduler_config.json");
        SchedulerBase scheduler = SchedulerFixture.Create(schedulerName, config);
        scheduler.SampleCount = document.GetProperty("sample_shape")[0].GetInt32();
        var errors = new List<(string What, double Error)>();

        scheduler.SetTimesteps(steps);
        float[] expectedTimesteps = SchedulerFixture.Floats(run.GetProperty("timesteps"));
        errors.Add(("timesteps", SchedulerFixture.RelativeError(scheduler.Timesteps, expectedTimesteps, 1.0)));
        if (run.TryGetProperty("sigmas", out JsonElement sigmasElement))
            errors.Add(("sigmas", SchedulerFixture.RelativeError(SchedulerFixture.SigmasOf(scheduler)!, SchedulerFixture.Floats(sigmasElement), 1e-3)));
        double expectedInit = run.GetProperty("init_noise_sigma").GetDouble();
        errors.Add(("init_noise_sigma", Math.Abs(scheduler.InitNoiseSigma - expectedInit) / Math.Abs(expectedInit)));
        Assert.Equal(run.GetProperty("order").GetInt32(), scheduler.Order);

        float[] sample = SchedulerFixture.Floats(document.GetProperty("sample"));
        float[] bias = SchedulerFixture.Floats(document.GetProperty("bias"));
        var input = new float[sample.Length];
        var output = new float[sample.Length];
        var noise = new FormulaNoiseSource();
        double[] expectedSums = SchedulerFixture.Doubles(run.GetProperty("abs_sums"));
        Assert.Equal(expectedSums.Length, scheduler.Timesteps.Length);
        float[][]? trajectory = run.TryGetProperty("trajectory", out JsonElement t)
            ? t.EnumerateArray().Select(SchedulerFixture.Floats).ToArray()
            : null;
        double worstSum = 0, worstTrajectory = 0;
        for (int i = 0; i < scheduler.Timesteps.Length; i++)
        {
            scheduler.ScaleModelInput(sample, i, input);
            if (i == 0 && run.TryGetProperty("model_input_0", out JsonElement modelInput))
                errors.Add(("model_input_0", SchedulerFixture.ScaledError(input, SchedulerFixture.Floats(modelInput))));
            SchedulerFixture.DummyModel(input, scheduler.Timesteps[i], bias, output);
            scheduler.Step(output, i, sample, noise);
            double sum = 0;
            foreach (float x in sample)
                sum += Math.Abs(x);
            worstSum = Math.Max(worstSum, Math.Abs(sum - expectedSums[i]) / Math.Max(expectedSums[i], 1e-30));
            if (trajectory is not null)
                worstTrajectory = Math.Max(worstTrajectory, SchedulerFixture.ScaledError(sample, trajectory[i]));
        }
        errors.Add(("abs_sums", worstSum));
        if (trajectory is not null)
            errors.Add(("trajectory", worstTrajectory));
        errors.Add(("final", SchedulerFixture.ScaledError(sample, SchedulerFixture.Floats(run.GetProperty("final")))));
        Assert.Equal(run.GetProperty("noise_draws").GetInt32(), noise.Draws);

        if (run.TryGetProperty("add_noise", out JsonElement addNoise))
        {
            float[] original = SchedulerFixture.Floats(document.GetProperty("sample"));
            float[] addNoiseNoise = SchedulerFixture.Floats(document.GetProperty("add_noise_noise"));
            var noised = new float[original.Length];
            scheduler.AddNoise(original, addNoiseNoise, addNoise.GetProperty("index").GetInt32(), noised);
            errors.Add(("add_noise", SchedulerFixture.ScaledError(noised, SchedulerFixture.Floats(addNoise.GetProperty("result")))));
        }

        ErrorLog.Record($"{schedulerName}/{caseName}/{steps}", errors);
        foreach ((string what, double error) in errors)
            Assert.True(error <= Tolerance, $"{schedulerName} {caseName} {steps} steps: {what} differs from diffusers by {error:E2} (relative), more than {Tolerance:E0}");
    }
}
