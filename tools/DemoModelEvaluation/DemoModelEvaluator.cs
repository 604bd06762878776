using System.Diagnostics;
using Diffusion.Core.Imaging;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>Generates one image per evaluation prompt and reads it back with <see cref="SceneAnalyser"/>.</summary>
public static class DemoModelEvaluator
{
    /// <summary>
    /// Generates an image for each prompt (seeded by the prompt's seed) with <paramref name="scheduler"/> and
    /// analyses it; images larger than 64×64 are box-averaged to 64×64 first so the analyser's 64×64 rules apply.
    /// </summary>
    /// <param name="pipeline">The pipeline (normally <see cref="DemoModel.Load"/>).</param>
    /// <param name="prompts">The prompts.</param>
    /// <param name="scheduler">The scheduler; reset by each generation.</param>
    /// <param name="settings">Steps, guidance, size, noise source.</param>
    /// <param name="onSample">Called after each sample (for progress output).</param>
    /// <param name="cancellationToken">Stops between and during generations.</param>
    public static IReadOnlyList<EvaluationSample> Run(
        StableDiffusionPipeline pipeline, IReadOnlyList<EvaluationPrompt> prompts, IScheduler scheduler,
        EvaluationSettings settings, Action<EvaluationSample>? onSample = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(settings);
        var samples = new List<EvaluationSample>(prompts.Count);
        foreach (EvaluationPrompt prompt in prompts)
        {
            var options = new GenerationOptions
            {
                Prompt = prompt.Caption,
                Steps = settings.Steps,
                GuidanceScale = settings.GuidanceScale,
                Width = settings.ImageSize,
                Height = settings.ImageSize,
                Seed = prompt.Seed,
                RandomSource = settings.RandomSource,
                Scheduler = scheduler,
                StepCache = settings.StepCache,
            };
            ImageBuffer image = pipeline.Generate(options, cancellationToken: cancellationToken).Images[0];
            SceneReading reading = SceneAnalyser.Analyse(SceneAnalyser.Downscale(image));
            var sample = new EvaluationSample(prompt, image, reading);
            samples.Add(sample);
            onSample?.Invoke(sample);
        }
        return samples;
    }

    /// <summary>Runs <see cref="Run"/> and returns its scores with the mean wall time per image.</summary>
    public static (EvaluationScores Scores, TimeSpan PerImage) Score(
        StableDiffusionPipeline pipeline, IReadOnlyList<EvaluationPrompt> prompts, IScheduler scheduler,
        EvaluationSettings settings, Action<EvaluationSample>? onSample = null, CancellationToken cancellationToken = default)
    {
        long start = Stopwatch.GetTimestamp();
        IReadOnlyList<EvaluationSample> samples = Run(pipeline, prompts, scheduler, settings, onSample, cancellationToken);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        return (new EvaluationScores(samples), prompts.Count == 0 ? TimeSpan.Zero : elapsed / prompts.Count);
    }
}
