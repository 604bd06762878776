using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Which of the scheduler's steps a call runs: all for text-to-image, the strength's share for image-to-image
/// (diffusers' <c>get_timesteps</c>), or the window <c>denoising_start</c>/<c>denoising_end</c> cut for an SDXL hand-off.
/// </summary>
internal static class ScheduleWindow
{
    /// <summary>
    /// diffusers' <c>get_timesteps</c>: <c>init_timestep = min(int(steps·strength), steps)</c>,
    /// <c>t_start = max(steps − init_timestep, 0)</c>; the loop starts at index <c>t_start·order</c>. Computed in double,
    /// as Python does, so e.g. 0.7 × 10 gives 7 steps.
    /// </summary>
    internal static int StartIndex(int steps, double strength, IScheduler scheduler)
    {
        int initTimestep = Math.Min((int)(steps * strength), steps);
        int tStart = Math.Max(steps - initTimestep, 0);
        return Math.Min(tStart * scheduler.Order, scheduler.Timesteps.Length);
    }

    /// <summary>
    /// diffusers' <c>get_timesteps</c> with <c>denoising_start</c>: the steps left are those whose timestep is below
    /// <c>round(1000 − start·1000)</c> (one more for a second-order scheduler whose count comes out even, so a step
    /// is never cut between its two evaluations).
    /// </summary>
    internal static int StartIndexAt(double denoisingStart, IScheduler scheduler)
    {
        ReadOnlySpan<float> timesteps = scheduler.Timesteps;
        int cutoff = Cutoff(denoisingStart, scheduler);
        int remaining = 0;
        foreach (float t in timesteps)
        {
            if (t < cutoff)
                remaining++;
        }
        if (scheduler.Order == 2 && remaining % 2 == 0)
            remaining++;
        return Math.Max(timesteps.Length - remaining, 0);
    }

    /// <summary>
    /// diffusers' <c>denoising_end</c>: of the timesteps from <paramref name="startIndex"/> on, those at or above
    /// <c>round(1000 − end·1000)</c> run.
    /// </summary>
    internal static int EndIndexAt(double denoisingEnd, IScheduler scheduler, int startIndex)
    {
        ReadOnlySpan<float> timesteps = scheduler.Timesteps;
        int cutoff = Cutoff(denoisingEnd, scheduler);
        int end = startIndex;
        for (int i = startIndex; i < timesteps.Length; i++)
        {
            if (timesteps[i] >= cutoff)
                end++;
        }
        return end;
    }

    // int(round(num_train_timesteps − fraction · num_train_timesteps)), Python's round: half to even.
    private static int Cutoff(double fraction, IScheduler scheduler)
    {
        double trainSteps = scheduler.Config.NumTrainTimesteps;
        return (int)Math.Round(trainSteps - fraction * trainSteps, MidpointRounding.ToEven);
    }

    /// <summary>The scheduler's step-count errors are about <see cref="GenerationOptions.Steps"/>: they are reported under that name.</summary>
    internal static void SetTimesteps(IScheduler scheduler, int steps)
    {
        try
        {
            scheduler.SetTimesteps(steps);
        }
        catch (InvalidOptionException error) when (error.OptionName == "InferenceSteps")
        {
            throw new InvalidOptionException(nameof(GenerationOptions.Steps), error.Message.Replace("InferenceSteps: ", "", StringComparison.Ordinal), error);
        }
    }
}
