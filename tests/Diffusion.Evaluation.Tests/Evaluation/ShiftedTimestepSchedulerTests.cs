using Diffusion.Core.Schedulers;
using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Evaluation;

public sealed class ShiftedTimestepSchedulerTests
{
    [Fact]
    public void Timesteps_AreTheNextStepsTimestepsOfTheWrappedScheduler()
    {
        // SD 1.5 DDIM, 20 steps: leading spacing with offset 1 gives 951, 901, …, 1 (diffusers DDIMScheduler.set_timesteps).
        IScheduler ddim = SchedulerCatalog.Create("DDIM", SchedulerConfig.StableDiffusion15);
        var shifted = new ShiftedTimestepScheduler(SchedulerCatalog.Create("DDIM", SchedulerConfig.StableDiffusion15));

        ddim.SetTimesteps(20);
        shifted.SetTimesteps(20);

        Assert.Equal(951f, ddim.Timesteps[0]);
        Assert.Equal(ddim.Timesteps[1..].ToArray(), shifted.Timesteps[..19].ToArray());
        Assert.Equal(0f, shifted.Timesteps[19]); // 1 − 50, floored at 0
    }

    [Fact]
    public void Step_IsTheWrappedSchedulersStep()
    {
        IScheduler ddim = SchedulerCatalog.Create("DDIM", SchedulerConfig.StableDiffusion15);
        var shifted = new ShiftedTimestepScheduler(SchedulerCatalog.Create("DDIM", SchedulerConfig.StableDiffusion15));
        ddim.SetTimesteps(20);
        shifted.SetTimesteps(20);
        float[] a = [0.5f, -1f, 2f, 0f], b = [0.5f, -1f, 2f, 0f], noise = [0.1f, 0.2f, -0.3f, 0.4f];

        ddim.Step(noise, 3, a);
        shifted.Step(noise, 3, b);

        Assert.Equal(a, b);
    }
}
