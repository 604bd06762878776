using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>No allocation per step for the DPM-Solver, UniPC, LCM and TCD schedulers (after the first step at a sample size).</summary>
public sealed class SchedulersBContractTests
{
    public static TheoryData<string> Names => new(
        "DPM++ 2M", "DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler+order3", "DPM++ 2S a", "DPMSolverSinglestepScheduler+order3",
        "UniPC", "UniPCMultistepScheduler+order3", "LCM", "TCD");

    private static IScheduler Create(string name)
    {
        SchedulerConfig config = SchedulerConfig.StableDiffusion15;
        if (name.EndsWith("+order3", StringComparison.Ordinal))
        {
            return SchedulerCatalog.Create(name[..^7], config with { SolverOrder = 3 });
        }

        return SchedulerCatalog.Create(name, config);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Steps_after_the_first_do_not_allocate(string name)
    {
        IScheduler scheduler = Create(name);
        int steps = name is "LCM" or "TCD" ? 4 : 10;
        var sample = new float[4 * 64 * 64];
        var input = new float[sample.Length];
        var output = new float[sample.Length];
        var random = new FormulaNoiseSource();
        scheduler.SetTimesteps(steps);
        for (int i = 0; i < sample.Length; i++)
        {
            sample[i] = MathF.Sin(i * 0.1f);
        }

        for (int i = 0; i < steps; i++)
        {
            Run(scheduler, i, sample, input, output, random);
        }

        scheduler.SetTimesteps(steps);
        Run(scheduler, 0, sample, input, output, random);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 1; i < steps; i++)
        {
            Run(scheduler, i, sample, input, output, random);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        static void Run(IScheduler s, int i, float[] sample, float[] input, float[] output, Diffusion.Core.Randomness.IRandomSource random)
        {
            s.ScaleModelInput(sample, i, input);
            for (int j = 0; j < input.Length; j++)
            {
                output[j] = 0.5f * input[j];
            }

            s.Step(output, i, sample, random);
        }
    }
}
