using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Evaluation;

/// <summary>
/// Generates and scores the small test prompt set once per pipeline variant, shared by the tests of
/// <see cref="DemoModelEvaluationTests"/> (each variant costs a dozen generations).
/// </summary>
public sealed class DemoModelRuns : IDisposable
{
    /// <summary>Prompts per run: seen combinations only, spread over the file (about a second each on two cores).</summary>
    public const int PromptCount = 12;

    private readonly Dictionary<string, EvaluationScores> _scores = [];
    private readonly List<StableDiffusionPipeline> _pipelines = [];
    private readonly Lock _lock = new();

    /// <summary>The real pipeline with the model's own scheduler (DDIM).</summary>
    public EvaluationScores Real(string modelPath) =>
        Run("real", () => DemoModel.Load(modelPath), pipeline => SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config));

    /// <summary>Latents not divided by the scaling factor at all before decoding (divided by 1).</summary>
    public EvaluationScores UnscaledLatents(string modelPath) =>
        Run("no-scaling", () => DemoModel.Load(modelPath, vaeScalingFactor: 1f), pipeline => SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config));

    /// <summary>The UNet given the step index instead of the timestep.</summary>
    public EvaluationScores StepIndexAsTimestep(string modelPath) =>
        Run("step-index", () => DemoModel.Load(modelPath),
            pipeline => MislabelledTimestepScheduler.StepIndex(SchedulerCatalog.Create("DDIM", pipeline.Scheduler.Config)));

    /// <summary>The test prompts: <see cref="PromptCount"/> seen prompts spread over the bundled file.</summary>
    public static IReadOnlyList<EvaluationPrompt> Prompts()
    {
        var seen = EvaluationPrompt.LoadAll(TestPaths.EvaluationPrompts).Where(p => p.Split == EvaluationPrompt.Seen).ToList();
        return EvaluationPrompt.Select(seen, PromptCount);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (StableDiffusionPipeline pipeline in _pipelines)
            pipeline.Dispose();
    }

    private EvaluationScores Run(string key, Func<StableDiffusionPipeline> load, Func<StableDiffusionPipeline, IScheduler> scheduler)
    {
        lock (_lock)
        {
            if (_scores.TryGetValue(key, out EvaluationScores? cached))
                return cached;
            StableDiffusionPipeline pipeline = load();
            _pipelines.Add(pipeline);
            var samples = DemoModelEvaluator.Run(pipeline, Prompts(), scheduler(pipeline), new EvaluationSettings());
            var scores = new EvaluationScores(samples);
            _scores[key] = scores;
            return scores;
        }
    }
}
