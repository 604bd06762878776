using BenchmarkDotNet.Attributes;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// One scheduler step (<c>ScaleModelInput</c> + <c>Step</c>) on a 1×4×S×S latent, averaged over a
/// 500-step schedule (OperationsPerInvoke). Multistep schedulers only accept their steps in order, so every
/// invocation is one schedule and the scheduler is restarted (<c>SetTimesteps</c>, which allocates its
/// schedule arrays) in <see cref="RestartSchedule"/>, outside the measurement; hence one invocation per iteration.
/// The schedule is long so that an iteration lasts milliseconds: with 20-step schedules an iteration lasted a
/// few hundred microseconds and this VM's timings of such single-invocation iterations were implausible (64²
/// slower than 128²). The per-step arithmetic does not depend on the step count (LCM is given
/// <c>original_inference_steps</c> 500 so that it accepts 500 steps; 1000 would put SD's <c>steps_offset</c> past the last training timestep).  The sample is reset at
/// the start of each invocation (one copy, amortised over the schedule).
/// Min and median are shown because on a shared machine the mean is skewed by preemptions.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
[InvocationCount(1)]
public class SchedulerStepBenchmarks
{
    private const int Steps = 500;
    private IScheduler _scheduler = null!;
    private float[] _initial = null!;
    private float[] _sample = null!;
    private float[] _modelInput = null!;
    private float[] _modelOutput = null!;
    private IRandomSource _random = null!;

    /// <summary>Scheduler name as the catalogue knows it.</summary>
    [Params("DDIM", "PLMS", "LMS", "Euler", "Euler a", "Heun", "DPM2", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE", "DPM++ 2S a", "UniPC", "LCM", "DDPM")]
    public string Scheduler { get; set; } = "Euler";

    /// <summary>Latent side: 64 (512 px) or 128 (1024 px).</summary>
    [Params(64, 128)]
    public int LatentSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _scheduler = SchedulerCatalog.Create(Scheduler, SchedulerConfig.StableDiffusion15 with { OriginalInferenceSteps = Steps });
        _scheduler.SetTimesteps(Steps);
        int length = 4 * LatentSize * LatentSize;
        _initial = new float[length];
        _sample = new float[length];
        _modelInput = new float[length];
        _modelOutput = new float[length];
        var random = new FastRandomSource(1);
        random.NextStandardNormal(_initial);
        random.NextStandardNormal(_modelOutput);
        _random = new FastRandomSource(2);
        // Warm the scheduler's lazily sized scratch buffers so the measured steps show steady state.
        RunSchedule();
    }

    /// <summary>Restarts the schedule before each (single-invocation) iteration.</summary>
    [IterationSetup]
    public void RestartSchedule()
    {
        _scheduler.SetTimesteps(Steps);
    }

    [Benchmark(OperationsPerInvoke = Steps)]
    public void Step() => RunSchedule();

    private void RunSchedule()
    {
        _initial.CopyTo(_sample.AsSpan());
        int count = _scheduler.Timesteps.Length;
        for (int i = 0; i < count; i++)
        {
            _scheduler.ScaleModelInput(_sample, i, _modelInput);
            _scheduler.Step(_modelOutput, i, _sample, _random);
        }
    }
}
