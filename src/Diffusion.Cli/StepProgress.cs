using Diffusion.Core.Imaging;
using Diffusion.Core.Pipelines;
using Diffusion.Imaging.Skia;
using Spectre.Console;

namespace Diffusion.Cli;

/// <summary>
/// Runs a generation with a step bar (steps, it/s, time left) on a terminal, or a line per step otherwise, and writes a
/// latent preview every N steps when asked.
/// </summary>
internal static class StepProgress
{
    public static GenerationResult Run(IDiffusionPipeline pipeline, GenerationOptions options, string? previewFolder, int previewEvery, CancellationToken ct)
    {
        // The latents are [images, 4, h, w]; h and w follow from their length and the image's aspect ratio (the
        // pipeline settles the size from the options, an init image or the model's default).
        int images = options.ImagesPerPrompt;
        double aspect = (double)(options.Height ?? options.InitImage?.Height ?? 1) / (options.Width ?? options.InitImage?.Width ?? 1);
        bool warned = false;
        void Preview(GenerationProgress step)
        {
            if (previewFolder is null || (step.Step % previewEvery != 0 && step.Step != step.TotalSteps) || step.Latents.IsEmpty)
                return;
            int perImage = step.Latents.Length / images;
            int area = perImage / LatentPreview.LatentChannels;
            int height = (int)Math.Round(Math.Sqrt(area * aspect));
            int width = height == 0 ? 0 : area / height;
            if (width * height * LatentPreview.LatentChannels != perImage || perImage * images != step.Latents.Length)
            {
                if (!warned)
                    ConsoleOutput.Warning("--preview: the latents are not 4-channel images of the expected size; no previews are written.");
                warned = true;
                return;
            }
            ImageBuffer preview = LatentPreview.ToImage(step.Latents.Span[..perImage], height, width);
            SkiaImageCodec.Save(preview, Path.Combine(previewFolder, $"step-{step.Step:D3}.png"));
        }

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
