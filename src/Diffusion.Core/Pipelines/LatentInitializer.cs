using System.Diagnostics;
using System.Numerics.Tensors;
using Diffusion.Core.Families;
using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// How a call's latents start, the one thing text-to-image, image-to-image and inpainting do differently before the
/// shared denoising loop: pure noise × init sigma, the encoded image noised to the start step, or that plus a mask
/// (blended back after every step for 4-channel UNets, extra UNet channels for 9-channel ones). The random draws happen
/// in diffusers' order, so seeds reproduce its pipelines.
/// </summary>
internal sealed class LatentInitializer(PipelineModels models, float vaeScalingFactor, ModelFamily family)
{
    /// <summary>What the latent start hands to the loop and to decoding.</summary>
    internal sealed class Result
    {
        public required float[] Latents { get; init; }

        public required DenoisingLoop Loop { get; init; }

        public required int StartIndex { get; init; }

        /// <summary>The step index the loop stops before (the timesteps' count unless <see cref="GenerationOptions.DenoisingEnd"/> cuts it).</summary>
        public required int EndIndex { get; init; }

        /// <summary>The init image resized to the output size (image-to-image, inpainting).</summary>
        public ImageBuffer? FittedImage { get; init; }

        /// <summary>The binarised mask at pixel resolution (inpainting).</summary>
        public float[]? PixelMask { get; init; }

        public long ImagePreparationTicks { get; init; }

        public long EncoderTicks { get; init; }
    }

    /// <summary>Sets the scheduler's timesteps for <see cref="GenerationOptions.Steps"/> and starts the latents for <paramref name="options"/>.</summary>
    public Result Start(GenerationOptions options, int width, int height, IScheduler scheduler, IRandomSource random, RunOptions runOptions)
    {
        int batch = options.ImagesPerPrompt;
        bool inpainting = options.Mask is not null;
        ScheduleWindow.SetTimesteps(scheduler, options.Steps);
        double strength = options.Strength ?? (inpainting ? family.DefaultInpaintingStrength : family.DefaultImageToImageStrength);
        bool fromImage = options.InitImage is not null || options.InitLatents is not null;
        int startIndex = options.DenoisingStart is double begin ? ScheduleWindow.StartIndexAt(begin, scheduler)
            : fromImage ? ScheduleWindow.StartIndex(options.Steps, strength, scheduler) : 0;
        int endIndex = options.DenoisingEnd is double end ? ScheduleWindow.EndIndexAt(end, scheduler, startIndex) : scheduler.Timesteps.Length;
        float[] latents = new float[batch * 4 * (height / 8) * (width / 8)];
        if (!fromImage)
        {
            random.NextStandardNormal(latents);
            TensorPrimitives.Multiply(latents, scheduler.InitNoiseSigma, latents);
            models.ReleaseIfSequential(models.VaeEncoder); // loaded by an earlier image-to-image call
            return new Result { Latents = latents, Loop = new DenoisingLoop() { EndIndex = endIndex }, StartIndex = 0, EndIndex = endIndex };
        }
        if (options.InitLatents is { } initLatents)
        {
            var start0 = new LatentStart(latents, batch, startIndex, random, runOptions);
            float[] given = new float[latents.Length];
            for (int offset = 0; offset < given.Length; offset += initLatents.Values.Length)
                initLatents.Values.CopyTo(given, offset);
            Noise(start0, given, scheduler, options.DenoisingStart is null);
            return new Result { Latents = latents, Loop = new DenoisingLoop() { EndIndex = endIndex }, StartIndex = startIndex, EndIndex = endIndex };
        }

        long f0 = Stopwatch.GetTimestamp();
        ImageBuffer fittedImage = InpaintingMask.Fit(options.InitImage!, width, height);
        float[]? pixelMask = inpainting ? InpaintingMask.Binarize(InpaintingMask.Fit(options.Mask!, width, height)) : null;
        long imagePreparationTicks = Stopwatch.GetTimestamp() - f0;
        var start = new LatentStart(latents, batch, startIndex, random, runOptions);
        DenoisingLoop loop = pixelMask is null
            ? StartFromImage(start, fittedImage, scheduler, options.DenoisingStart is null)
            : StartInpainting(start, fittedImage, pixelMask, strength == 1.0, scheduler);
        loop.EndIndex = endIndex;
        models.ReleaseIfSequential(models.VaeEncoder);
        return new Result
        {
            Latents = latents,
            Loop = loop,
            StartIndex = startIndex,
            EndIndex = endIndex,
            FittedImage = fittedImage,
            PixelMask = pixelMask,
            ImagePreparationTicks = imagePreparationTicks,
            EncoderTicks = start.EncoderTicks,
        };
    }

    /// <summary>
    /// Image-to-image (diffusers' <c>StableDiffusionImg2ImgPipeline.prepare_latents</c>): encode the image (sampling
    /// the latent distribution first), scale, repeat over the batch, then draw the noise and noise the latents to the
    /// start step. With no step left (strength 0, or steps·strength &lt; 1) the latents are the image's: the VAE round trip.
    /// </summary>
    private DenoisingLoop StartFromImage(LatentStart start, ImageBuffer image, IScheduler scheduler, bool addNoise)
    {
        float[] imageLatents = EncodeImage(start, image, null);
        Noise(start, imageLatents, scheduler, addNoise);
        return new DenoisingLoop();
    }

    /// <summary>
    /// The start latents from clean ones: noised to the start step (one N(0,1) draw of the latents' shape), or as they are
    /// when no step is left or <paramref name="addNoise"/> is false (a <c>denoising_start</c> hand-off).
    /// </summary>
    private static void Noise(LatentStart start, float[] clean, IScheduler scheduler, bool addNoise)
    {
        if (addNoise && start.StartIndex < scheduler.Timesteps.Length)
        {
            float[] noise = new float[start.Latents.Length];
            start.Random.NextStandardNormal(noise);
            scheduler.AddNoise(clean, noise, start.StartIndex, start.Latents);
        }
        else
        {
            clean.CopyTo(start.Latents, 0);
        }
    }

    /// <summary>
    /// Inpainting (diffusers' <c>StableDiffusionInpaintPipeline</c>): image latents (when a 4-channel UNet needs them
    /// or strength &lt; 1), then the noise; at strength 1 the latents are pure noise × init sigma (<c>is_strength_max</c>),
    /// else the image noised to the start step. Then the masked image is encoded for a 9-channel UNet (its extra
    /// input); a 4-channel UNet instead gets the known region re-noised and blended back after every step.
    /// </summary>
    private DenoisingLoop StartInpainting(LatentStart start, ImageBuffer image, float[] pixelMask, bool strengthMax, IScheduler scheduler)
    {
        int total = scheduler.Timesteps.Length;
        bool fourChannel = models.UNet.InChannels == 4;
        bool steps = start.StartIndex < total;
        float[] imageTensor = new float[3 * image.Width * image.Height];
        ImageTensorConverter.ToTensor(image, imageTensor);
        float[]? imageLatents = fourChannel || !strengthMax || !steps ? EncodeImage(start, image, imageTensor) : null;
        float[] noise = new float[start.Latents.Length];
        if (steps)
        {
            start.Random.NextStandardNormal(noise);
            if (strengthMax)
                TensorPrimitives.Multiply(noise, scheduler.InitNoiseSigma, start.Latents);
            else
                scheduler.AddNoise(imageLatents!, noise, start.StartIndex, start.Latents);
        }
        else
        {
            imageLatents!.CopyTo(start.Latents, 0);
        }

        float[] latentMask = InpaintingMask.ToLatentResolution(pixelMask, image.Width, image.Height);
        int plane = latentMask.Length;
        InpaintingMask.ClearMasked(imageTensor, pixelMask);
        if (!fourChannel)
        {
            // UNet input per image: [latents (4) | mask (1) | masked-image latents (4)].
            float[] extra = new float[5 * plane];
            latentMask.CopyTo(extra, 0);
            EncodeSingle(start, imageTensor, image.Width, image.Height, extra.AsSpan(plane));
            return new DenoisingLoop() { ExtraChannels = extra };
        }

        // diffusers encodes the masked image for 4-channel UNets too (and ignores it): a sampling encoder draws its
        // noise then, so the same draw is made here to keep stochastic schedulers on the same random stream.
        if (models.RequireVaeEncoder().OutputsDistributionParameters)
            start.Random.NextStandardNormal(new float[4 * plane]);
        float[] known = new float[start.Latents.Length];
        return new DenoisingLoop()
        {
            AfterStep = (i, latents) =>
            {
                // init_latents_proper = add_noise(image_latents, noise, timesteps[i + 1]) (the clean latents after the
                // last step); latents = (1 − mask)·proper + mask·latents, mask 0/1 at latent resolution.
                if (i + 1 < total)
                    scheduler.AddNoise(imageLatents!, noise, i + 1, known);
                else
                    imageLatents!.CopyTo(known, 0);
                Span<float> values = latents.Span;
                for (int offset = 0; offset < values.Length; offset += plane)
                {
                    Span<float> channel = values.Slice(offset, plane);
                    ReadOnlySpan<float> original = known.AsSpan(offset, plane);
                    for (int p = 0; p < plane; p++)
                    {
                        if (latentMask[p] < 0.5f)
                            channel[p] = original[p];
                    }
                }
            },
        };
    }

    /// <summary>Encodes one image (sampled with the generation's random source when the encoder outputs a distribution), scales it and repeats it over the batch.</summary>
    private float[] EncodeImage(LatentStart start, ImageBuffer image, float[]? imageTensor)
    {
        if (imageTensor is null)
        {
            imageTensor = new float[3 * image.Width * image.Height];
            ImageTensorConverter.ToTensor(image, imageTensor);
        }
        float[] latents = new float[start.Latents.Length];
        int perImage = latents.Length / start.Batch;
        EncodeSingle(start, imageTensor, image.Width, image.Height, latents.AsSpan(0, perImage));
        for (int i = 1; i < start.Batch; i++)
            latents.AsSpan(0, perImage).CopyTo(latents.AsSpan(i * perImage));
        return latents;
    }

    /// <summary>VAE-encodes one [3,H,W] tensor into <paramref name="destination"/> ([4,H/8,W/8]) × the scaling factor.</summary>
    private void EncodeSingle(LatentStart start, float[] imageTensor, int width, int height, Span<float> destination)
    {
        VaeEncoder encoder = models.RequireVaeEncoder();
        float[] latents = new float[destination.Length];
        long e0 = Stopwatch.GetTimestamp();
        encoder.Encode(imageTensor, 1, height, width, latents, start.Random, start.RunOptions);
        start.EncoderTicks += Stopwatch.GetTimestamp() - e0;
        DenoisingLoop.RequireFinite(latents, "VAE encoder", encoder.ModelPath, null);
        TensorPrimitives.Multiply(latents, vaeScalingFactor, destination);
    }

    /// <summary>What the latent-preparation steps share for one generation.</summary>
    private sealed class LatentStart(float[] latents, int batch, int startIndex, IRandomSource random, RunOptions runOptions)
    {
        public float[] Latents { get; } = latents;

        public int Batch { get; } = batch;

        public int StartIndex { get; } = startIndex;

        public IRandomSource Random { get; } = random;

        public RunOptions RunOptions { get; } = runOptions;

        public long EncoderTicks { get; set; }
    }
}
