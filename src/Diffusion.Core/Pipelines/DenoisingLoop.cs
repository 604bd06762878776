using System.Diagnostics;
using System.Numerics.Tensors;
using Diffusion.Core.Models;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The one denoising loop every pipeline runs: scale the latents for the model, run the UNet (one
/// batched call or two for classifier-free guidance), combine the guidance in place, step the
/// scheduler. Text-to-image, image-to-image and inpainting differ only in how the latents start and in
/// <see cref="AfterStep"/>; nothing here allocates per step.
/// </summary>
internal sealed class DenoisingLoop
{
    private readonly UNet _unet;

    public DenoisingLoop(UNet unet) => _unet = unet;

    /// <summary>Called after each scheduler step with the step index and the latents (e.g. inpainting's mask blend).</summary>
    public Action<int, Memory<float>>? AfterStep { get; init; }

    /// <summary>
    /// ControlNet conditioning: when set, each UNet call goes through it (it runs the active ControlNets on the
    /// call's latents and passes their residuals, or a fused UNet's control images, to the UNet).
    /// </summary>
    public ControlNetConditioner? ControlNet { get; set; }

    /// <summary>
    /// Channels appended to the scaled latents of every image in every UNet call, [channels, h, w] for one image
    /// (inpainting UNets: the mask then the masked-image latents). Empty for 4-channel UNets.
    /// </summary>
    public ReadOnlyMemory<float> ExtraChannels { get; init; }

    /// <summary>
    /// The denoiser's added inputs by name (SDXL's <c>text_embeds</c>/<c>time_ids</c>, LCM's <c>timestep_cond</c>), each
    /// <c>[model batch, width]</c> in the order of the text embeddings; null or empty for none.
    /// </summary>
    public IReadOnlyDictionary<string, float[]>? AddedConditioning { get; set; }

    /// <summary>The step index to stop before (diffusers' <c>denoising_end</c>); past the end runs every remaining step.</summary>
    public int EndIndex { get; set; } = int.MaxValue;

    /// <summary>Checks the latents after each step and throws <see cref="NumericalInstabilityException"/> on NaN/Inf (one pass over the latents).</summary>
    public bool CheckFinite { get; init; } = true;

    /// <summary>Time spent inside the UNet's runs (and the ControlNets').</summary>
    public long UNetTicks { get; private set; }

    /// <summary>Time spent in scheduler math and guidance.</summary>
    public long SchedulerTicks { get; private set; }

    /// <summary>
    /// Denoises <paramref name="latents"/> ([batch,4,h,w]) in place from step <paramref name="startIndex"/>
    /// to the end of the scheduler's timesteps.
    /// </summary>
    /// <param name="latents">Latents, updated in place.</param>
    /// <param name="batch">Images in the batch.</param>
    /// <param name="latentHeight">Latent height (pixels / 8).</param>
    /// <param name="latentWidth">Latent width (pixels / 8).</param>
    /// <param name="textEmbeddings">[2·batch, seq, width] (unconditional first) with guidance, else [batch, seq, width].</param>
    /// <param name="sequenceLength">Token positions per prompt.</param>
    /// <param name="guidanceScale">Classifier-free guidance scale; ≤ 1 means no unconditional half.</param>
    /// <param name="imagesPerCall">Batch size of each UNet call: the whole model batch (guidance halves batched), one half, or the UNet's fixed batch; divides the model batch.</param>
    /// <param name="scheduler">A scheduler whose timesteps are already set.</param>
    /// <param name="startIndex">First step index (0 for text-to-image).</param>
    /// <param name="random">Noise for stochastic schedulers.</param>
    /// <param name="runOptions">Run options whose terminate flag cancels a running UNet.</param>
    /// <param name="progress">Told after each step.</param>
    /// <param name="startTimestamp">Stopwatch timestamp of the generation's start, for progress.</param>
    /// <param name="cancellationToken">Checked between steps.</param>
    public void Run(
        Memory<float> latents, int batch, int latentHeight, int latentWidth,
        Memory<float> textEmbeddings, int sequenceLength, float guidanceScale, int imagesPerCall,
        IScheduler scheduler, int startIndex, IRandomSource random, RunOptions runOptions,
        IProgress<GenerationProgress>? progress, long startTimestamp, CancellationToken cancellationToken)
    {
        bool guided = guidanceScale > 1f;
        int perImage = latents.Length / batch;
        int halfLength = latents.Length;
        int inputPerImage = perImage + ExtraChannels.Length;
        int modelBatch = guided ? 2 * batch : batch;
        int embeddingPerImage = textEmbeddings.Length / modelBatch;
        if (imagesPerCall < 1 || modelBatch % imagesPerCall != 0)
            throw new ArgumentOutOfRangeException(nameof(imagesPerCall), imagesPerCall, $"must divide the model batch {modelBatch}.");

        // Buffers for the whole loop: the model input ([uncond | cond] copies of the scaled latents) and
        // the model output. Allocated once per generation, reused by every step.
        // With extra channels, the latents are scaled into their own buffer and interleaved per image.
        bool extra = !ExtraChannels.IsEmpty;
        float[] modelInput = new float[modelBatch * inputPerImage];
        float[] noisePrediction = new float[modelBatch * perImage];
        float[] scaled = extra ? new float[halfLength] : modelInput;

        ReadOnlySpan<float> timesteps = scheduler.Timesteps;
        int total = Math.Min(timesteps.Length, EndIndex);
        Dictionary<string, Memory<float>>[]? added = SliceAddedConditioning(modelBatch, imagesPerCall);
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

            for (int first = 0, call = 0; first < modelBatch; first += imagesPerCall, call++)
            {
                if (ControlNet is { } controlNet)
                {
                    controlNet.Predict(_unet, i - startIndex, total - startIndex,
                        modelInput.AsMemory(first * inputPerImage, imagesPerCall * inputPerImage), imagesPerCall, latentHeight, latentWidth, t,
                        textEmbeddings.Slice(first * embeddingPerImage, imagesPerCall * embeddingPerImage), sequenceLength, added?[call],
                        noisePrediction.AsMemory(first * perImage, imagesPerCall * perImage), runOptions);
                    continue;
                }
                if (added is not null)
                {
                    _unet.Predict(
                        modelInput.AsMemory(first * inputPerImage, imagesPerCall * inputPerImage), imagesPerCall, latentHeight, latentWidth, t,
                        textEmbeddings.Slice(first * embeddingPerImage, imagesPerCall * embeddingPerImage), sequenceLength, added[call],
                        noisePrediction.AsMemory(first * perImage, imagesPerCall * perImage), runOptions);
                    continue;
                }
                _unet.Predict(
                    modelInput.AsMemory(first * inputPerImage, imagesPerCall * inputPerImage), imagesPerCall, latentHeight, latentWidth, t,
                    textEmbeddings.Slice(first * embeddingPerImage, imagesPerCall * embeddingPerImage), sequenceLength,
                    noisePrediction.AsMemory(first * perImage, imagesPerCall * perImage), runOptions);
            }
            long s2 = Stopwatch.GetTimestamp();

            Span<float> guidedPrediction = noisePrediction.AsSpan(0, halfLength);
            if (guided)
            {
                // noise = uncond + g·(cond − uncond), computed in place over the two halves.
                Span<float> conditional = noisePrediction.AsSpan(halfLength, halfLength);
                TensorPrimitives.Subtract(conditional, guidedPrediction, conditional);
                TensorPrimitives.MultiplyAdd(conditional, guidanceScale, guidedPrediction, guidedPrediction);
            }
            if (CheckFinite)
                RequireFinite(noisePrediction, "UNet", _unet.ModelPath, i, t);
            scheduler.Step(guidedPrediction, i, latents.Span, random);
            if (CheckFinite)
                RequireFinite(latents.Span, "scheduler", null, i, t);
            AfterStep?.Invoke(i, latents);
            long s3 = Stopwatch.GetTimestamp();

            UNetTicks += s2 - s1;
            SchedulerTicks += (s1 - s0) + (s3 - s2);
            progress?.Report(new GenerationProgress(i - startIndex + 1, total - startIndex, t, Stopwatch.GetElapsedTime(startTimestamp)));
        }
    }

    /// <summary>The added inputs cut once into each UNet call's rows, so the steps pass them without allocating.</summary>
    private Dictionary<string, Memory<float>>[]? SliceAddedConditioning(int modelBatch, int imagesPerCall)
    {
        if (AddedConditioning is not { Count: > 0 } inputs)
            return null;
        var calls = new Dictionary<string, Memory<float>>[modelBatch / imagesPerCall];
        for (int call = 0; call < calls.Length; call++)
        {
            calls[call] = new Dictionary<string, Memory<float>>(StringComparer.Ordinal);
            foreach ((string name, float[] values) in inputs)
            {
                int row = values.Length / modelBatch;
                calls[call][name] = values.AsMemory(call * imagesPerCall * row, imagesPerCall * row);
            }
        }
        return calls;
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
