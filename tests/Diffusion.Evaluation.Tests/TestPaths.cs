namespace Diffusion.Evaluation.Tests;

/// <summary>Paths of files copied next to the test binaries.</summary>
internal static class TestPaths
{
    /// <summary>The analyser fixture folder (made by tools/reference-data/demo-evaluation/make_analyser_fixture.py).</summary>
    public static string AnalyserData => Path.Combine(AppContext.BaseDirectory, "TestData", "analyser");

    /// <summary>The evaluation prompts bundled with the tool (copied to its output, and so to ours).</summary>
    public static string EvaluationPrompts => Path.Combine(AppContext.BaseDirectory, "eval_prompts.json");
}
