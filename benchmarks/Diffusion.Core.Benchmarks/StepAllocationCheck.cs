using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// The <c>allocations</c> verb: managed bytes allocated on the calling thread by whole 20-step schedules
/// (<c>ScaleModelInput</c> + <c>Step</c>, <c>SetTimesteps</c> excluded) of every catalogued scheduler at 4×64×64
/// and 4×128×128 — the diffusion ones over SD 1.5's config, the flow-matching ones (SD3/FLUX.1) over SD3's. Unlike BenchmarkDotNet's Allocated column, which counts every thread of the process (tiered
/// JIT, the engine) and so occasionally shows a stray ~200 B/op, this counts only the stepping thread.
/// </summary>
public static class StepAllocationCheck
{
    /// <summary>
    /// Runs each scheduler's schedule 8 times (the first warms its scratch buffers); prints the schedulers whose
    /// later schedules allocated and a summary. Returns 1 when any later schedule allocated.
    /// </summary>
    public static int Run()
    {
        const int steps = 20, runs = 8;
        int checkedCount = 0, dirtyCount = 0;
        SchedulerConfig flow = SchedulerConfig.FromJson("""{"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0}""", "SD3's scheduler_config.json");
        IEnumerable<(string Name, SchedulerConfig Config)> cases = SchedulerCatalog.Names.Except(SchedulerCatalog.FlowMatchingNames)
            .Select(name => (name, SchedulerConfig.StableDiffusion15))
            .Concat(SchedulerCatalog.FlowMatchingNames.Select(name => (name, flow)));
        foreach ((string name, SchedulerConfig config) in cases)
        {
            foreach (int size in (ReadOnlySpan<int>)[64, 128])
            {
                IScheduler scheduler = SchedulerCatalog.Create(name, config);
                int length = 4 * size * size;
                float[] sample = new float[length], modelInput = new float[length], modelOutput = new float[length];
                var random = new FastRandomSource(1);
                random.NextStandardNormal(modelOutput);
                long first = 0, steady = 0;
                int dirtyRuns = 0;
                for (int run = 0; run < runs; run++)
                {
                    scheduler.SetTimesteps(steps);
                    random.NextStandardNormal(sample);
                    // Settle the GC first: a collection finishing mid-schedule retires this thread's allocation
                    // context, and its unused tail (< 8 KB) would then read as allocated.
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    int count = scheduler.Timesteps.Length;
                    for (int i = 0; i < count; i++)
                    {
                        scheduler.ScaleModelInput(sample, i, modelInput);
                        scheduler.Step(modelOutput, i, sample, random);
                    }
                    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    if (run == 0)
                    {
                        first = allocated;
                        continue;
                    }
                    steady = Math.Max(steady, allocated);
                    dirtyRuns += allocated > 0 ? 1 : 0;
                }
                checkedCount++;
                if (steady > 0)
                {
                    dirtyCount++;
                    Console.WriteLine($"{name} 4x{size}x{size}: first schedule {first} B; {dirtyRuns} of {runs - 1} later schedules allocated, at most {steady} B");
                }
            }
        }
        Console.WriteLine($"{checkedCount} scheduler/size cases, {runs - 1} steady-state schedules each: {dirtyCount} cases allocated in some schedule.");
        return dirtyCount == 0 ? 0 : 1;
    }
}
