using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

public sealed class NoiseScheduleTests
{
    // Reference values: torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=float32)**2 and torch.cumprod(1 - betas, 0),
    // as diffusers builds Stable Diffusion's schedule, with torch >= 2.0's CPU linspace (the generator's torch2_linspace;
    // torch 1.13 differs by one ulp in some betas, e.g. 0.004803793970495462 at t = 499).
    [Theory]
    [InlineData(0, 0.0008499999530613422, 0.9991499781608582)]
    [InlineData(1, 0.0008546985918655992, 0.9982960224151611)]
    [InlineData(499, 0.0048037925735116005, 0.27766942977905273)]
    [InlineData(999, 0.011999999172985554, 0.00466009508818388)]
    public void ScaledLinearScheduleMatchesTorch(int t, double beta, double alphaCumprod)
    {
        var schedule = new NoiseSchedule(SchedulerConfig.StableDiffusion15);
        Assert.Equal(beta, schedule.Betas[t]);
        Assert.Equal(alphaCumprod, schedule.AlphasCumprod[t]);
    }

    [Fact]
    public void SigmasAreTheSquareRootOfTheNoiseToSignalRatio()
    {
        // torch: ((1 - acp) / acp) ** 0.5 at t = 0 and 999 for SD 1.5.
        var schedule = new NoiseSchedule(SchedulerConfig.StableDiffusion15);
        Assert.Equal(0.029167532920837402, schedule.Sigmas[0], 1e-7);
        Assert.Equal(14.614645004272461, schedule.Sigmas[999], 1e-5);
        Assert.Equal(Math.Log(schedule.Sigmas[500]), schedule.LogSigmas[500], 1e-6);
    }

    [Fact]
    public void LinearScheduleCumprodIsAccumulatedInDoubleLikeTorch()
    {
        // torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0)[999] (torch >= 2.0 linspace); a float32 running
        // product would drift by ~1e-6.
        var schedule = new NoiseSchedule(new SchedulerConfig { BetaSchedule = "linear", BetaStart = 0.0001, BetaEnd = 0.02 });
        Assert.Equal(4.035830352222547e-05, schedule.AlphasCumprod[999]);
    }

    [Fact]
    public void ZeroSnrRescalingEndsAtZeroAlphaCumprod()
    {
        var schedule = new NoiseSchedule(SchedulerConfig.StableDiffusion15 with { RescaleBetasZeroSnr = true });
        Assert.Equal(0f, schedule.AlphasCumprod[999]);
        Assert.Equal(1f, schedule.Betas[999]);
        Assert.Equal(new NoiseSchedule(SchedulerConfig.StableDiffusion15).AlphasCumprod[0], schedule.AlphasCumprod[0], 1e-6);
    }

    [Fact]
    public void TrainedBetasReplaceTheSchedule()
    {
        float[] betas = Enumerable.Range(0, 10).Select(i => 0.01f * (i + 1)).ToArray();
        var schedule = new NoiseSchedule(new SchedulerConfig { NumTrainTimesteps = 10, TrainedBetas = betas });
        Assert.Equal(betas, schedule.Betas.ToArray());
        Assert.Equal(0.99f * 0.98f, schedule.AlphasCumprod[1], 1e-7);
    }

    // scipy 1.10 scipy.stats.beta.ppf(p, 0.6, 0.6), which diffusers' beta sigmas use.
    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(1e-6, 1.8558824624053043e-10)]
    [InlineData(0.01, 0.0008612388215429059)]
    [InlineData(0.1, 0.03958440558878085)]
    [InlineData(0.25, 0.17568037865269498)]
    [InlineData(0.5, 0.5000000000000001)]
    [InlineData(0.75, 0.824319621347305)]
    [InlineData(0.9, 0.9604155944112192)]
    [InlineData(0.99, 0.9991387611784571)]
    [InlineData(0.999999999, 0.9999999999999981)]
    [InlineData(1.0, 1.0)]
    public void BetaQuantileMatchesScipy(double p, double expected)
        => Assert.Equal(expected, IncompleteBeta.InverseRegularized(p, 0.6, 0.6), Math.Max(expected * 1e-12, 1e-15));

    [Theory]
    [InlineData(0.3, 2.5, 0.7, 0.7097758912148804)]
    [InlineData(0.8, 0.3, 4.0, 0.11800531922279615)]
    public void BetaQuantileMatchesScipyForAsymmetricShapes(double p, double a, double b, double expected)
        => Assert.Equal(expected, IncompleteBeta.InverseRegularized(p, a, b), expected * 1e-12);

    [Fact]
    public void SigmaToTimestepInvertsTheTrainingSigmas()
    {
        var schedule = new NoiseSchedule(SchedulerConfig.StableDiffusion15);
        Assert.Equal(500.0, schedule.SigmaToTimestep(schedule.Sigmas[500]), 1e-4); // log-sigmas are float32, as numpy
        double between = Math.Exp(0.25 * Math.Log(schedule.Sigmas[300]) + 0.75 * Math.Log(schedule.Sigmas[301]));
        Assert.Equal(300.75, schedule.SigmaToTimestep(between), 1e-4);
        Assert.Equal(0.0, schedule.SigmaToTimestep(1e-6));
        Assert.Equal(999.0, schedule.SigmaToTimestep(1000.0));
    }

    [Theory]
    [InlineData("leading", 10, 1, new double[] { 901, 801, 701, 601, 501, 401, 301, 201, 101, 1 })]
    [InlineData("trailing", 10, 0, new double[] { 999, 899, 799, 699, 599, 499, 399, 299, 199, 99 })]
    [InlineData("trailing", 3, 0, new double[] { 999, 666, 332 })]
    [InlineData("linspace", 4, 0, new double[] { 999, 666, 333, 0 })]
    public void SpacedTimestepsFollowDiffusers(string spacing, int steps, int offset, double[] expected)
        => Assert.Equal(expected, NoiseSchedule.SpacedTimesteps(spacing, 1000, steps, offset));
}
