using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// <see cref="IScheduler.AddNoise"/> promises that the destination may alias either input: every class the catalogue
/// builds gives the same values written in place over the original sample, over the noise, or into a third buffer.
/// </summary>
public sealed class AddNoiseAliasingTests
{
    public static TheoryData<string> ClassNames() => new(SchedulerCatalog.Names.Where(n => n.EndsWith("Scheduler", StringComparison.Ordinal)));

    [Theory]
    [MemberData(nameof(ClassNames))]
    public void Destination_may_alias_the_original_sample_or_the_noise(string className)
    {
        SchedulerConfig config = className.StartsWith("FlowMatch", StringComparison.Ordinal)
            ? new SchedulerConfig { ClassName = "FlowMatchEulerDiscreteScheduler", Shift = 3.0 }
            : SchedulerConfig.StableDiffusion15;
        IScheduler scheduler = SchedulerCatalog.Create(className, config);
        scheduler.SetTimesteps(10);
        float[] original = Enumerable.Range(0, 37).Select(i => MathF.Sin(i * 0.7f) * 0.9f).ToArray();
        float[] noise = Enumerable.Range(0, 37).Select(i => MathF.Cos(i * 1.3f) * 1.1f).ToArray();
        for (int step = 0; step < scheduler.Timesteps.Length; step += 3)
        {
            float[] separate = new float[original.Length];
            scheduler.AddNoise(original, noise, step, separate);

            float[] overOriginal = (float[])original.Clone();
            scheduler.AddNoise(overOriginal, noise, step, overOriginal);
            float[] overNoise = (float[])noise.Clone();
            scheduler.AddNoise(original, overNoise, step, overNoise);

            Assert.Equal(separate, overOriginal);
            Assert.Equal(separate, overNoise);
        }
    }
}
