using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// The deterministic stand-in for torch.randn used by the scheduler reference generator (formula_noise):
/// draw k, element i = ((i·7919 + k·104729) mod 2000)/500 − 2, exactly representable in float32.
/// </summary>
internal sealed class FormulaNoiseSource : IRandomSource
{
    public int Draws { get; private set; }

    public void NextStandardNormal(Span<float> destination)
    {
        long k = Draws++;
        for (int i = 0; i < destination.Length; i++)
            destination[i] = (float)(((i * 7919L + k * 104729L) % 2000) / 500.0 - 2.0);
    }
}
