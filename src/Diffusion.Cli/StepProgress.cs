using Diffusion.Core.Pipelines;
using Spectre.Console;

namespace Diffusion.Cli;

/// <summary>
/// Runs a generation with a step bar (steps, it/s, time left) on a terminal, or a line per step otherwise, and writes a
/// latent preview every N steps when asked.
/// </summary>
internal static class StepProgress
{
    public static GenerationResult Run(IDiffusionPipeline pipeline, GenerationOptions options, PreviewWriter? previews, CancellationToken ct)
    {
        void Preview(GenerationProgress step) => previews?.Write(step);

        if (!ConsoleOutput.Interactive)
        {
            return pipeline.Generate(options, new Reporter(step =>
            {
                ConsoleOutput.Line($"step {step.Step,3}/{step.TotalSteps}  {step.Elapsed.TotalSeconds,7:F2} s");
                Preview(step);
            }), ct);
        }
        GenerationResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                ProgressTask? task = null;
                result = pipeline.Generate(options, new Reporter(step =>
                {
                    task ??= context.AddTask("denoising", maxValue: step.TotalSteps);
                    task.Value = step.Step;
                    task.Description = $"step {step.Step}/{step.TotalSteps} ({step.Step / Math.Max(step.Elapsed.TotalSeconds, 1e-9):F2} it/s)";
                    Preview(step);
                }), ct);
            });
        return result!;
    }

    /// <summary>Reports on the generating thread, while the latents view is valid (Progress&lt;T&gt; would post later).</summary>
    private sealed class Reporter(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
