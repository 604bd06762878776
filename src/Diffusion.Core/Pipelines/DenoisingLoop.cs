using System.Diagnostics;
using System.Numerics.Tensors;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The one denoising loop every pipeline and model family runs: scale the latents for the model, run the denoiser (one
/// batched call or two for classifier-free guidance), combine the guidance in place, step the scheduler. Text-to-image,
/// image-to-image and inpainting differ only in how the latents start, in <see cref="ExtraChannels"/> and in
/// <see cref="AfterStep"/>; UNet and transformer families only in their <see cref="IDenoiser"/>. Nothing here allocates per step.
/// </summary>
internal sealed class DenoisingLoop
{
    /// <summary>Called after each scheduler step with the step index and the latents (e.g. inpainting's mask blend).</summary>
    public Action<int, Memory<float>>? AfterStep { get; init; }

    /// <summary>
    /// Channels appended to the scaled latents of every image in every denoiser call, [channels, h, w] for one image
    /// (inpainting UNets: the mask then the masked-image latents). Empty for 4-channel UNets.
    /// </summary>
    public ReadOnlyMemory<float> ExtraChannels { get; init; }

    /// <summary>A term added to the guided prediction on the steps it applies to (SD3's skip-layer guidance); only with guidance.</summary>
    public IGuidanceTerm? GuidanceTerm { get; init; }

    /// <summary>The step index to stop before (diffusers' <c>denoising_end</c>); past the end runs every remaining step.</summary>
    public int EndIndex { get; set; } = int.MaxValue;

    /// <summary>Checks the latents after each step and throws <see cref="NumericalInstabilityException"/> on NaN/Inf (one pass over the latents).</summary>
    public bool CheckFinite { get; init; } = true;

    /// <summary>Time spent inside the denoiser's runs (and the ControlNets').</summary>
    public long DenoiserTicks { get; private set; }

    /// <summary>Time spent in scheduler math and guidance.</summary>
    public long SchedulerTicks { get; private set; }

    /// <summary>
    /// Denoises <paramref name="latents"/> in place from step <paramref name="startIndex"/> to the end of the scheduler's
    /// timesteps (or <see cref="EndIndex"/>).
    /// </summary>
    /// <param name="denoiser">The model each step runs, holding the call's conditioning.</param>
    /// <param name="latents">Latents in the layout the scheduler steps (the denoiser's), updated in place.</param>
    /// <param name="batch">Images in the batch.</param>
    /// <param name="guidanceScale">Classifier-free guidance scale; ≤ 1 means no unconditional half.</param>
    /// <param name="imagesPerCall">Batch size of each denoiser call: the whole model batch (guidance halves batched), one half, or the model's fixed batch; divides the model batch.</param>
    /// <param name="scheduler">A scheduler whose timesteps are already set.</param>
    /// <param name="startIndex">First step index (0 for text-to-image).</param>
    /// <param name="random">Noise for stochastic schedulers.</param>
    /// <param name="runOptions">Run options whose terminate flag cancels a running model.</param>
    /// <param name="progress">Told after each step.</param>
    /// <param name="startTimestamp">Stopwatch timestamp of the generation's start, for progress.</param>
    /// <param name="cancellationToken">Checked between steps.</param>
    public void Run(
        IDenoiser denoiser, Memory<float> latents, int batch, float guidanceScale, int imagesPerCall,
        IScheduler scheduler, int startIndex, IRandomSource random, RunOptions runOptions,
        IProgress<GenerationProgress>? progress, long startTimestamp, CancellationToken cancellationToken)
    {
        bool guided = guidanceScale > 1f;
        int perImage = latents.Length / batch;
        int halfLength = latents.Length;
        int inputPerImage = perImage + ExtraChannels.Length;
        int modelBatch = guided ? 2 * batch : batch;
        if (imagesPerCall < 1 || modelBatch % imagesPerCall != 0)
            throw new ArgumentOutOfRangeException(nameof(imagesPerCall), imagesPerCall, $"must divide the model batch {modelBatch}.");

        // Buffers for the whole loop: the model input ([uncond | cond] copies of the scaled latents) and
        // the model output. Allocated once per generation, reused by every step.
        // With extra channels, the latents are scaled into their own buffer and interleaved per image.
        bool extra = !ExtraChannels.IsEmpty;
        float[] modelInput = new float[modelBatch * inputPerImage];
        float[] noisePrediction = new float[modelBatch * perImage];
        float[] scaled = extra ? new float[halfLength] : modelInput;
        float[]? term = guided && GuidanceTerm is not null ? new float[halfLength] : null;

        ReadOnlySpan<float> timesteps = scheduler.Timesteps;
        int total = Math.Min(timesteps.Length, EndIndex);
        for (int i = startIndex; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            float t = scheduler.Timesteps[i];

            long s0 = Stopwatch.GetTimestamp();
            scheduler.ScaleModelInput(latents.Span, i, scaled.AsSpan(0, halfLength));
            if (extra)
            {
                // [scaled latents | extra channels] per image; the unconditional and conditional halves see the same.
                for (int item = 0; item < modelBatch; item++)
                {
                    Span<float> target = modelInput.AsSpan(item * inputPerImage, inputPerImage);
                    scaled.AsSpan((item % batch) * perImage, perImage).CopyTo(target);
                    ExtraChannels.Span.CopyTo(target[perImage..]);
                }
            }
            else if (guided)
            {
                modelInput.AsSpan(0, halfLength).CopyTo(modelInput.AsSpan(halfLength, halfLength));
            }
            long s1 = Stopwatch.GetTimestamp();

            for (int first = 0; first < modelBatch; first += imagesPerCall)
            {
                denoiser.Predict(i - startIndex, total - startIndex,
                    modelInput.AsMemory(first * inputPerImage, imagesPerCall * inputPerImage), first, imagesPerCall, t,
                    noisePrediction.AsMemory(first * perImage, imagesPerCall * perImage), runOptions);
            }
            bool withTerm = term is not null && GuidanceTerm!.Applies(i - startIndex, total - startIndex);
            if (withTerm)
            {
                GuidanceTerm!.Compute(i - startIndex, total - startIndex, t, modelInput.AsMemory(batch * inputPerImage, batch * inputPerImage),
                    noisePrediction.AsSpan(halfLength, halfLength), term, runOptions);
            }
            long s2 = Stopwatch.GetTimestamp();

            Span<float> guidedPrediction = noisePrediction.AsSpan(0, halfLength);
            if (guided)
            {
                // noise = uncond + g·(cond − uncond), computed in place over the two halves.
                Span<float> conditional = noisePrediction.AsSpan(halfLength, halfLength);
                TensorPrimitives.Subtract(conditional, guidedPrediction, conditional);
                TensorPrimitives.MultiplyAdd(conditional, guidanceScale, guidedPrediction, guidedPrediction);
                if (withTerm)
                    TensorPrimitives.Add(guidedPrediction, term, guidedPrediction);
            }
            if (CheckFinite)
                RequireFinite(noisePrediction, denoiser.Component, denoiser.ModelPath, i, t);
            scheduler.Step(guidedPrediction, i, latents.Span, random);
            if (CheckFinite)
                RequireFinite(latents.Span, "scheduler", null, i, t);
            AfterStep?.Invoke(i, latents);
            long s3 = Stopwatch.GetTimestamp();

            DenoiserTicks += s2 - s1;
            SchedulerTicks += (s1 - s0) + (s3 - s2);
            progress?.Report(new GenerationProgress(i - startIndex + 1, total - startIndex, t, Stopwatch.GetElapsedTime(startTimestamp), latents));
        }
    }

    /// <summary>Throws <see cref="NumericalInstabilityException"/> when <paramref name="values"/> holds NaN or ±∞.</summary>
    internal static void RequireFinite(ReadOnlySpan<float> values, string component, string? modelPath, int? step, float? timestep = null)
    {
        // MaxMagnitude propagates NaN and returns ∞ when any value is infinite: one vectorised pass.
        if (values.IsEmpty || float.IsFinite(TensorPrimitives.MaxMagnitude(values)))
            return;
        int nan = 0, infinite = 0;
        foreach (float value in values)
        {
            if (float.IsNaN(value))
                nan++;
            else if (float.IsInfinity(value))
                infinite++;
        }
        string when = timestep is float ts ? $" (timestep {ts})" : string.Empty;
        throw new NumericalInstabilityException(component, modelPath, step,
            $"output holds {nan} NaN and {infinite} infinite values out of {values.Length}{when}.");
    }
}
