using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Evaluation;

/// <summary>
/// End-to-end checks of this library's pipeline on the demo model: the real pipeline reproduces what the captions
/// ask for, and pipelines with one classic porting bug each score clearly lower (so the evaluation can tell).
/// </summary>
public sealed class DemoModelEvaluationTests(DemoModelRuns runs) : IClassFixture<DemoModelRuns>
{
    // The model's own evaluation (tools/train-demo-model, DDIM 20 steps, guidance 6) and the full C# evaluation
    // (docs/demo-model-evaluation.md) read TODO; the thresholds leave a margin for 12 prompts.
    private const double MinimumColourAndShapeAccuracy = 0.90;

    // A broken pipeline must lose at least this much mean accuracy over the five attributes.
    private const double MinimumDrop = 0.25;

    [Fact]
    public void RealPipeline_ReadsBackTheCaptionsColoursAndShapes()
    {
        string model = DemoModelFolder.Require();

        EvaluationScores scores = runs.Real(model);

        Assert.Equal(DemoModelRuns.PromptCount, scores.Count());
        Assert.True(scores.Accuracy(SceneAttribute.Foreground) >= MinimumColourAndShapeAccuracy, Describe("real", scores));
        Assert.True(scores.Accuracy(SceneAttribute.Background) >= MinimumColourAndShapeAccuracy, Describe("real", scores));
        Assert.True(scores.Accuracy(SceneAttribute.Shape) >= MinimumColourAndShapeAccuracy, Describe("real", scores));
    }

    [Fact]
    public void LatentsDividedBySdsScalingFactorInsteadOfTheModels_ScoreClearlyLower()
    {
        string model = DemoModelFolder.Require();

        EvaluationScores real = runs.Real(model), broken = runs.HardCodedSdScalingFactor(model);

        Assert.True(MeanAccuracy(broken) <= MeanAccuracy(real) - MinimumDrop, Describe("real", real) + "; " + Describe("0.18215", broken));
    }

    [Fact]
    public void UNetGivenTheStepIndexInsteadOfTheTimestep_ScoresClearlyLower()
    {
        string model = DemoModelFolder.Require();

        EvaluationScores real = runs.Real(model), broken = runs.StepIndexAsTimestep(model);

        Assert.True(MeanAccuracy(broken) <= MeanAccuracy(real) - MinimumDrop, Describe("real", real) + "; " + Describe("step index", broken));
    }

    private static double MeanAccuracy(EvaluationScores scores)
    {
        double sum = 0;
        foreach (SceneAttribute attribute in SceneAttributes.All)
            sum += scores.Accuracy(attribute);
        return sum / SceneAttributes.All.Count;
    }

    private static string Describe(string label, EvaluationScores scores) =>
        $"{label}: " + string.Join(", ", SceneAttributes.All.Select(a => $"{a} {scores.Accuracy(a):P0}")) + $", mean {MeanAccuracy(scores):P1}";
}
