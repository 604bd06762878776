using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>The argument checks every scheduler's <c>Step</c>, <c>ScaleModelInput</c> and <c>AddNoise</c> share.</summary>
internal static class StepArguments
{
    /// <summary>Throws unless a schedule of <paramref name="timestepCount"/> entries is set and <paramref name="stepIndex"/> indexes it.</summary>
    public static void RequireIndex(IScheduler scheduler, int timestepCount, int stepIndex)
    {
        if (timestepCount == 0)
            throw new InvalidOperationException($"{scheduler.GetType().Name}: call SetTimesteps before stepping.");
        if ((uint)stepIndex >= (uint)timestepCount)
            throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"must be in 0..{timestepCount - 1}.");
    }

    /// <summary>Throws when the sample is empty or the model output's length differs from it.</summary>
    public static void RequireStepBuffers(ReadOnlySpan<float> modelOutput, Span<float> sample)
    {
        if (sample.IsEmpty)
            throw new ArgumentException("The sample is empty.", nameof(sample));
        RequireSameLength(sample.Length, modelOutput.Length, nameof(modelOutput));
    }

    /// <summary>Throws <see cref="ArgumentException"/> when two buffers that must match differ in length.</summary>
    public static void RequireSameLength(int expected, int actual, string parameterName)
    {
        if (expected != actual)
            throw new ArgumentException($"has {actual} elements but the sample has {expected}.", parameterName);
    }

    /// <summary>Returns <paramref name="random"/> or throws for a stochastic step called without one.</summary>
    public static IRandomSource RequireRandom(IScheduler scheduler, IRandomSource? random)
        => random ?? throw new ArgumentNullException(nameof(random), $"{scheduler.GetType().Name} draws noise in this step; pass an IRandomSource.");
}
