using System.Globalization;
using System.Text;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>The results of one evaluation run, written as Markdown by <see cref="ToMarkdown"/>.</summary>
public sealed class EvaluationReport
{
    /// <summary>The command line that produced the report.</summary>
    public required string CommandLine { get; init; }

    /// <summary>The model folder evaluated.</summary>
    public required string ModelPath { get; init; }

    /// <summary>The VAE scaling factor the folder declares.</summary>
    public required float ScalingFactor { get; init; }

    /// <summary>Generation settings of the main runs.</summary>
    public required EvaluationSettings Settings { get; init; }

    /// <summary>One row per scheduler at the training size.</summary>
    public required IReadOnlyList<ReportRow> Schedulers { get; init; }

    /// <summary>Every scheduler again at other guidance scales (empty when not run).</summary>
    public IReadOnlyList<ReportRow> OtherGuidance { get; init; } = [];

    /// <summary>Deliberately wrong pipelines (empty when not run).</summary>
    public IReadOnlyList<ReportRow> Controls { get; init; } = [];

    /// <summary>Runs at sizes the model was not trained for (empty when not run).</summary>
    public IReadOnlyList<(int Size, ReportRow Row)> OtherSizes { get; init; } = [];

    /// <summary>Renders the report.</summary>
    public string ToMarkdown()
    {
        var md = new StringBuilder();
        EvaluationScores first = Schedulers[0].Scores;
        int seen = first.Count(EvaluationPrompt.Seen), heldOut = first.Count(EvaluationPrompt.HeldOut);
        Line(md, "# Demo model evaluation");
        Line(md);
        Line(md, $"Model `{ModelPath}` (VAE scaling factor {ScalingFactor.ToString(CultureInfo.InvariantCulture)}), generated with this library's " +
            "`StableDiffusionPipeline` and read back from the pixels by `SceneAnalyser`, the C# port of the demo trainer's analyser " +
            "(`tools/train-demo-model/ANALYSER.md`). Produced by:");
        Line(md);
        Line(md, $"    {CommandLine}");
        Line(md);
        Line(md, $"- {first.Count()} prompts from `eval_prompts.json`: {seen} whose (shape, colour, background) combination occurs in training " +
            $"(**seen**) and {heldOut} from the six combinations held out of training (**held-out**: each value was seen, never together).");
        Line(md, $"- One image per prompt, {Settings.ImageSize}×{Settings.ImageSize}, {Settings.Steps} steps, guidance {F(Settings.GuidanceScale)}, " +
            $"initial noise from the {Settings.RandomSource} generator seeded with the prompt's `seed` (the trainer's own evaluation draws the same noise).");
        Line(md, "- An attribute counts as right when the analyser reads the caption's value; *all five* = every attribute right.");
        Line(md, $"- **The demo model is trained at {SceneGeometry.ImageSize}×{SceneGeometry.ImageSize} only** (8×8 latents); see *Other sizes* below.");
        Line(md, "- *ms/image*: wall time of one generation on the machine that ran this (CPU, shared); a rough figure, not a benchmark.");
        Line(md);
        Line(md, $"## Accuracy at {Settings.ImageSize}×{Settings.ImageSize}");
        Line(md);
        Table(md, "scheduler", Schedulers);
        Line(md);
        Line(md, "DDIM (η = 0) and Euler take the same first-order step of the probability-flow ODE in different coordinates, so their " +
            "images are close and their readings mostly agree; DPM++ 2M is second order.");
        if (OtherGuidance.Count > 0)
        {
            Line(md);
            Line(md, "## Other guidance scales");
            Line(md);
            Line(md, $"The same runs at other classifier-free guidance scales (above: {F(Settings.GuidanceScale)}).");
            Line(md);
            Table(md, "scheduler", OtherGuidance);
        }
        if (Controls.Count > 0)
        {
            Line(md);
            Line(md, "## Controls: deliberately wrong pipelines");
            Line(md);
            Line(md, "Same prompts, seeds and settings; each pipeline breaks one thing a port can get wrong. The evaluation can only catch " +
                "a bug of that kind if its row scores clearly lower than the real pipeline's.");
            Line(md);
            Table(md, "pipeline", Controls);
            Line(md);
            Line(md, "*vs real*: change of the mean of five, in points, against the real pipeline with the same scheduler. Over all prompts:");
            Line(md);
            Verdicts(md, Controls, "caught", "**not caught**: the analyser's readings barely change, so this evaluation cannot detect this bug on this model");
        }
        if (OtherSizes.Count > 0)
        {
            Line(md);
            Line(md, "## Other sizes");
            Line(md);
            Line(md, $"The model was trained on {SceneGeometry.ImageSize}×{SceneGeometry.ImageSize} scenes only; the pipeline accepts any multiple of 8, " +
                "and the convolutional UNet and VAE run at any latent size, but nothing teaches the model what a larger canvas should hold. " +
                "For the analyser, each larger image is box-averaged down to 64×64 first (so its 64×64 thresholds apply).");
            Line(md);
            var rows = new List<ReportRow>();
            foreach ((int size, ReportRow row) in OtherSizes)
                rows.Add(row with { Label = $"{row.Label} at {size}×{size}" });
            Table(md, "run", rows);
            Line(md);
            Verdicts(md, rows, "the analyser reads clearly worse scenes than at the training size", "about as good as at the training size");
        }
        Misreadings(md, Schedulers[0]);
        return md.ToString();
    }

    private void Table(StringBuilder md, string firstColumn, IReadOnlyList<ReportRow> rows)
    {
        bool compared = rows.Any(r => r.Baseline is not null);
        Line(md, $"| {firstColumn} | prompts | foreground | background | shape | size | position | all five | mean of five |" +
            (compared ? " vs real |" : "") + " ms/image |");
        Line(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|" + (compared ? "---:|" : "") + "---:|");
        foreach (ReportRow row in rows)
        {
            foreach (string split in new[] { EvaluationPrompt.Seen, EvaluationPrompt.HeldOut })
            {
                int n = row.Scores.Count(split);
                if (n == 0)
                    continue;
                var cells = new StringBuilder();
                foreach (SceneAttribute attribute in SceneAttributes.All)
                    cells.Append(CultureInfo.InvariantCulture, $" {Percent(row.Scores.Accuracy(attribute, split))} |");
                cells.Append(CultureInfo.InvariantCulture, $" {Percent(row.Scores.AllCorrect(split))} | {Percent(row.MeanAccuracy(split))} |");
                if (compared)
                    cells.Append(CultureInfo.InvariantCulture, $" {Difference(row, split)} |");
                Line(md, $"| {row.Label} | {split} ({n}) |{cells} {row.PerImage.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture)} |");
            }
        }
    }

    private void Verdicts(StringBuilder md, IReadOnlyList<ReportRow> rows, string caught, string notCaught)
    {
        foreach (ReportRow row in rows)
        {
            if (Find(row.Baseline) is not { } real)
                continue;
            double drop = real.MeanAccuracy() - row.MeanAccuracy();
            string points = (Math.Abs(drop) < 0.0005 ? "±" : drop > 0 ? "−" : "+") + Math.Abs(100 * drop).ToString("F1", CultureInfo.InvariantCulture);
            Line(md, $"- {row.Label}: mean of five {Percent(row.MeanAccuracy())} against {Percent(real.MeanAccuracy())} for {real.Label} " +
                $"({points} points) — {(drop >= 0.10 ? caught : notCaught)}.");
        }
    }

    private string Difference(ReportRow row, string split)
    {
        if (Find(row.Baseline) is not { } real)
            return "–";
        double delta = 100 * (row.MeanAccuracy(split) - real.MeanAccuracy(split));
        return (Math.Abs(delta) < 0.05 ? "±" : delta > 0 ? "+" : "−") + Math.Abs(delta).ToString("F1", CultureInfo.InvariantCulture);
    }

    private ReportRow? Find(string? label)
    {
        foreach (ReportRow row in Schedulers)
        {
            if (row.Label == label)
                return row;
        }
        return null;
    }

    private static void Misreadings(StringBuilder md, ReportRow row)
    {
        var wrong = new List<EvaluationSample>();
        foreach (EvaluationSample sample in row.Scores.Samples)
        {
            if (!sample.IsAllCorrect)
                wrong.Add(sample);
        }
        Line(md);
        Line(md, $"## Misreadings ({row.Label})");
        Line(md);
        if (wrong.Count == 0)
        {
            Line(md, "None: every attribute of every image was read as its caption states.");
            return;
        }
        Line(md, $"{wrong.Count} of {row.Scores.Count()} images have at least one attribute read differently from the caption" +
            (wrong.Count > 30 ? " (first 30 listed)" : "") + ":");
        Line(md);
        Line(md, "| split | seed | caption | read | fill |");
        Line(md, "|---|---:|---|---|---:|");
        for (int i = 0; i < wrong.Count && i < 30; i++)
        {
            EvaluationSample sample = wrong[i];
            string fill = sample.Reading.Fill is double f ? f.ToString("F3", CultureInfo.InvariantCulture) : "–";
            Line(md, $"| {sample.Prompt.Split} | {sample.Prompt.Seed} | {sample.Prompt.Caption} | {sample.Reading.Attributes} | {fill} |");
        }
    }

    private static string Percent(double value) =>
        double.IsNaN(value) ? "–" : (100 * value).ToString("F1", CultureInfo.InvariantCulture) + "%";

    private static string F(float value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Line(StringBuilder md, string text = "") => md.Append(text).Append('\n');
}
