namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>Per-attribute accuracy of a set of samples, overall and per split (seen / held-out).</summary>
public sealed class EvaluationScores
{
    private readonly IReadOnlyList<EvaluationSample> _samples;

    /// <summary>Scores <paramref name="samples"/>.</summary>
    public EvaluationScores(IReadOnlyList<EvaluationSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        _samples = samples;
    }

    /// <summary>The samples scored.</summary>
    public IReadOnlyList<EvaluationSample> Samples => _samples;

    /// <summary>Number of samples in <paramref name="split"/> (null: all).</summary>
    public int Count(string? split = null)
    {
        int n = 0;
        foreach (EvaluationSample sample in _samples)
        {
            if (split is null || sample.Prompt.Split == split)
                n++;
        }
        return n;
    }

    /// <summary>Fraction of samples in <paramref name="split"/> (null: all) whose <paramref name="attribute"/> was read right; NaN when there are none.</summary>
    public double Accuracy(SceneAttribute attribute, string? split = null) => Fraction(split, sample => sample.IsCorrect(attribute));

    /// <summary>Fraction of samples in <paramref name="split"/> (null: all) with all five attributes right; NaN when there are none.</summary>
    public double AllCorrect(string? split = null) => Fraction(split, sample => sample.IsAllCorrect);

    private double Fraction(string? split, Func<EvaluationSample, bool> predicate)
    {
        int n = 0, hits = 0;
        foreach (EvaluationSample sample in _samples)
        {
            if (split is not null && sample.Prompt.Split != split)
                continue;
            n++;
            if (predicate(sample))
                hits++;
        }
        return n == 0 ? double.NaN : hits / (double)n;
    }
}
