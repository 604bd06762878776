using Diffusion.Core.Schedulers;
using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Evaluation;

public sealed class MislabelledTimestepSchedulerTests
{
    [Fact]
    public void NextStep_GivesTheNextStepsTimesteps()
    {
        // SD 1.5 DDIM, 20 steps: leading spacing with offset 1 gives 951, 901, …, 1 (diffusers DDIMScheduler.set_timesteps).
        IScheduler ddim = Ddim();
        var wrong = MislabelledTimestepScheduler.NextStep(Ddim());

        ddim.SetTimesteps(20);
        wrong.SetTimesteps(20);

        Assert.Equal(951f, ddim.Timesteps[0]);
        Assert.Equal(ddim.Timesteps[1..].ToArray(), wrong.Timesteps[..19].ToArray());
        Assert.Equal(0f, wrong.Timesteps[19]); // 1 − 50, floored at 0
    }

    [Fact]
    public void StepIndex_GivesTheLoopIndexInsteadOfTheTimestep()
    {
        var wrong = MislabelledTimestepScheduler.StepIndex(Ddim());

        wrong.SetTimesteps(4);

        Assert.Equal([0f, 1f, 2f, 3f], wrong.Timesteps.ToArray());
    }

    [Fact]
    public void Step_IsTheWrappedSchedulersStep()
    {
        IScheduler ddim = Ddim();
        var wrong = MislabelledTimestepScheduler.NextStep(Ddim());
        ddim.SetTimesteps(20);
        wrong.SetTimesteps(20);
        float[] a = [0.5f, -1f, 2f, 0f], b = [0.5f, -1f, 2f, 0f], noise = [0.1f, 0.2f, -0.3f, 0.4f];

        ddim.Step(noise, 3, a);
        wrong.Step(noise, 3, b);

        Assert.Equal(a, b);
    }

    private static IScheduler Ddim() => SchedulerCatalog.Create("DDIM", SchedulerConfig.StableDiffusion15);
}
