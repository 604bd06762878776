namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>One line group of a report table: a labelled run's scores and its mean time per image.</summary>
/// <param name="Label">What was run (scheduler name, control description).</param>
/// <param name="Scores">The run's scores.</param>
/// <param name="PerImage">Mean wall time per generated image.</param>
public sealed record ReportRow(string Label, EvaluationScores Scores, TimeSpan PerImage);
