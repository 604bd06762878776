namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>One line group of a report table: a labelled run's scores and its mean time per image.</summary>
/// <param name="Label">What was run (scheduler name, control description).</param>
/// <param name="Scores">The run's scores.</param>
/// <param name="PerImage">Mean wall time per generated image.</param>
/// <param name="Baseline">For a control run: the label of the real run it is compared with.</param>
public sealed record ReportRow(string Label, EvaluationScores Scores, TimeSpan PerImage, string? Baseline = null)
{
    /// <summary>Mean of the five attribute accuracies in <paramref name="split"/> (null: all samples).</summary>
    public double MeanAccuracy(string? split = null)
    {
        double sum = 0;
        foreach (SceneAttribute attribute in SceneAttributes.All)
            sum += Scores.Accuracy(attribute, split);
        return sum / SceneAttributes.All.Count;
    }
}
