using Diffusion.Core.Schedulers;
using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Evaluation;

public sealed class OffByOneStepSchedulerTests
{
    [Fact]
    public void Step_IsTheWrappedSchedulersNextStep_AndTheLastStepRepeats()
    {
        IScheduler ddim = Ddim();
        var wrong = OffByOneStepScheduler.Ahead(Ddim());
        ddim.SetTimesteps(20);
        wrong.SetTimesteps(20);
        float[] noise = [0.1f, 0.2f, -0.3f, 0.4f];

        foreach ((int wrongIndex, int rightIndex) in new[] { (3, 4), (18, 19), (19, 19) })
        {
            float[] expected = [0.5f, -1f, 2f, 0f], actual = [0.5f, -1f, 2f, 0f], atTheRightIndex = [0.5f, -1f, 2f, 0f];
            ddim.Step(noise, rightIndex, expected);
            wrong.Step(noise, wrongIndex, actual);
            ddim.Step(noise, wrongIndex, atTheRightIndex);

            Assert.Equal(expected, actual);
            if (wrongIndex != rightIndex)
                Assert.NotEqual(atTheRightIndex, actual);
        }
    }

    [Fact]
    public void TheUNetStillGetsTheRightTimesteps()
    {
        IScheduler ddim = Ddim();
        var wrong = OffByOneStepScheduler.Ahead(Ddim());

        ddim.SetTimesteps(20);
        wrong.SetTimesteps(20);

        Assert.Equal(ddim.Timesteps.ToArray(), wrong.Timesteps.ToArray());
    }

    private static IScheduler Ddim() => SchedulerCatalog.Create("DDIM", SchedulerConfig.StableDiffusion15);
}
