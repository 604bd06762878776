using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// The full loop of diffusers' tests/schedulers (SchedulerCommonTest): dummy_sample_deter (4x3x8x8, arange /
/// 768 laid out channels-height-width-batch then permuted) and dummy_model(sample, t) = sample * t / (t + 1).
/// </summary>
internal static class DiffusersTestLoop
{
    public static float[] DummySampleDeter() => Deterministic(flip: false);

    /// <summary>dummy_noise_deter: the same layout over arange(n).flip(-1).</summary>
    public static float[] DummyNoiseDeter() => Deterministic(flip: true);

    private static float[] Deterministic(bool flip)
    {
        const int batch = 4, channels = 3, height = 8, width = 8, count = batch * channels * height * width;
        var sample = new float[count];
        // torch.arange(n).reshape(c, h, w, b) / n, then permute(3, 0, 1, 2): element [b, c, y, x] = index(c, y, x, b) / n.
        for (int b = 0; b < batch; b++)
        {
            for (int c = 0; c < channels; c++)
            {
                for (int y = 0; y < height; y++)
                {
                    for (int x = 0; x < width; x++)
                    {
                        int source = (((((c * height) + y) * width) + x) * batch) + b;
                        int value = flip ? count - 1 - source : source;
                        sample[(((((b * channels) + c) * height) + y) * width) + x] = value / (float)count;
                    }
                }
            }
        }

        return sample;
    }

    /// <summary>
    /// Runs the loop from <paramref name="startIndex"/> (after noising the sample to that step with
    /// dummy_noise_deter when <paramref name="addNoise"/>); returns sum |sample| and mean |sample| (in double).
    /// </summary>
    public static (double Sum, double Mean) Run(IScheduler scheduler, int steps, IRandomSource random, int startIndex = 0, bool addNoise = false)
    {
        scheduler.SetTimesteps(steps);
        float[] sample = DummySampleDeter();
        float init = scheduler.InitNoiseSigma;
        for (int i = 0; i < sample.Length; i++)
        {
            sample[i] *= init;
        }

        if (addNoise)
        {
            scheduler.AddNoise(sample, DummyNoiseDeter(), startIndex, sample);
        }

        float[] residual = new float[sample.Length];
        for (int i = startIndex; i < scheduler.Timesteps.Length; i++)
        {
            scheduler.ScaleModelInput(sample, i, sample);
            float t = scheduler.Timesteps[i];
            for (int j = 0; j < sample.Length; j++)
            {
                residual[j] = sample[j] * t / (t + 1f);
            }

            scheduler.Step(residual, i, sample, random);
        }

        double sum = 0;
        for (int i = 0; i < sample.Length; i++)
        {
            sum += Math.Abs(sample[i]);
        }

        return (sum, sum / sample.Length);
    }
}
