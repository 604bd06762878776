using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Evaluation;

public sealed class EvaluationPromptTests
{
    [Fact]
    public void BundledPrompts_AreSixtySeenAndSixtyHeldOutWithMatchingCaptions()
    {
        IReadOnlyList<EvaluationPrompt> prompts = EvaluationPrompt.LoadAll(TestPaths.EvaluationPrompts);

        Assert.Equal(60, prompts.Count(p => p.Split == EvaluationPrompt.Seen));
        Assert.Equal(60, prompts.Count(p => p.Split == EvaluationPrompt.HeldOut));
        foreach (EvaluationPrompt prompt in prompts)
        {
            SceneAttributes e = prompt.Expected;
            Assert.Equal(prompt.Caption, e.ToCaption());
            Assert.Equal(prompt.Split == EvaluationPrompt.HeldOut, SceneGeometry.IsHeldOut(e.Shape!, e.Foreground!, e.Background!));
        }
    }

    [Fact]
    public void Select_SpreadsEvenlyOverBothSplitsAndKeepsEveryHeldOutCombination()
    {
        IReadOnlyList<EvaluationPrompt> all = EvaluationPrompt.LoadAll(TestPaths.EvaluationPrompts);

        IReadOnlyList<EvaluationPrompt> selected = EvaluationPrompt.Select(all, 24);

        Assert.Equal(12, selected.Count(p => p.Split == EvaluationPrompt.Seen));
        Assert.Equal(12, selected.Count(p => p.Split == EvaluationPrompt.HeldOut));
        Assert.Equal(6, selected.Where(p => p.Split == EvaluationPrompt.HeldOut)
            .Select(p => (p.Expected.Shape, p.Expected.Foreground, p.Expected.Background)).Distinct().Count());
        Assert.Equal(all.Where(p => p.Split == EvaluationPrompt.Seen).Take(12).First(), selected[0]);
    }

    [Fact]
    public void LoadAll_NamesTheFileAndEntryOfAMalformedPrompt()
    {
        string path = Path.Combine(Path.GetTempPath(), $"bad-prompts-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """[{"caption": "a small red circle on a gray background, center", "split": "seen", "seed": 0}]""");
        try
        {
            var ex = Assert.Throws<InvalidDataException>(() => EvaluationPrompt.LoadAll(path));
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Contains("prompt 0", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
