using System.Diagnostics;
using System.Numerics.Tensors;
using Diffusion.Core.Families;
using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>The family-specific stages of a flow-matching call: what it may ask for, the schedule, the decode.</summary>
public sealed partial class FlowMatchingPipeline
{
    /// <summary>Options this version does not run for SD3/FLUX.1 are refused by name, never ignored.</summary>
    private void RequireSupported(GenerationOptions options)
    {
        (string Option, bool Given)[] notHere =
        [
            (nameof(GenerationOptions.InitLatents), options.InitLatents is not null),
            (nameof(GenerationOptions.ControlNets), options.ControlNets.Count > 0), (nameof(GenerationOptions.DenoisingEnd), options.DenoisingEnd is not null),
            (nameof(GenerationOptions.PromptSyntax), options.PromptSyntax != PromptSyntax.Plain),
            (nameof(GenerationOptions.StepCache), options.StepCache is not null),
        ];
        foreach ((string option, bool given) in notHere)
        {
            if (given)
                throw new InvalidOptionException(option, $"is not supported for {Family.Name} models in this version (text-to-image, image-to-image and inpainting with plain prompts).");
        }
        if (Family != ModelFamily.Flux)
        {
            if (options.TrueCfgScale is not null)
                throw new InvalidOptionException(nameof(GenerationOptions.TrueCfgScale), $"is FLUX.1's; {Family.Name} runs classifier-free guidance with GuidanceScale.");
            RequireSkipLayerGuidanceFits(options);
            return;
        }
        if (options.SkipLayerGuidance is not null)
            throw new InvalidOptionException(nameof(GenerationOptions.SkipLayerGuidance), "is SD3's; FLUX.1 is guidance-distilled and has no classifier-free guidance to add it to.");
        // FluxPipeline uses a negative prompt only with true_cfg_scale > 1 (it warns and ignores it otherwise).
        if (options.NegativePrompt.Length > 0 && !(options.TrueCfgScale > 1f))
            throw new InvalidOptionException(nameof(GenerationOptions.NegativePrompt), "FLUX.1 is guidance-distilled: a negative prompt takes effect only with TrueCfgScale above 1 (diffusers' true_cfg_scale), which this call does not set.");
        if (options.ClipSkip != 1)
            throw new InvalidOptionException(nameof(GenerationOptions.ClipSkip), "FLUX.1 conditions on CLIP's pooled output only; there is no layer to skip.");
        if (!Transformer.TakesGuidance && options.GuidanceScale is float scale && scale > 1f)
            throw new InvalidOptionException(nameof(GenerationOptions.GuidanceScale), $"is {scale}, but this FLUX.1 transformer (schnell) embeds no guidance (real classifier-free guidance on FLUX.1 is TrueCfgScale); leave it unset.");
    }

    /// <summary>Both families patchify 2×2 latent pixels (FLUX.1 packs, SD3's patch_size 2): sides must be multiples of 16.</summary>
    private static void RequireSizeMultiple(GenerationOptions options, int width, int height)
    {
        if (width % 16 == 0 && height % 16 == 0)
            return;
        string option = width % 16 != 0 ? nameof(GenerationOptions.Width) : nameof(GenerationOptions.Height);
        throw new InvalidOptionException(option, $"SD3 and FLUX.1 need width and height that are multiples of 16 pixels (the VAE's 8 × 2×2 patches), got {width}x{height}.");
    }

    /// <summary>
    /// FluxPipeline: custom sigmas <c>linspace(1, 1/steps, steps)</c> and mu from the packed token count (only a scheduler
    /// that takes custom sigmas, FlowMatchEulerDiscreteScheduler, can run them). SD3: <c>set_timesteps(steps)</c>, with mu
    /// from the patch count when the config uses dynamic shifting (SD3.5's does not).
    /// </summary>
    private void SetTimesteps(IScheduler scheduler, int steps, int latentHeight, int latentWidth)
    {
        if (scheduler is not FlowMatchSchedulerBase)
            throw new InvalidOptionException(nameof(GenerationOptions.Scheduler), $"{scheduler.GetType().Name} is not a flow-matching scheduler; {Family.Name} models need one (FlowMatchEulerDiscreteScheduler, FlowMatchHeunDiscreteScheduler).");
        int imageTokens = FluxLatents.ImageSequenceLength(latentHeight, latentWidth);
        if (scheduler is FlowMatchEulerDiscreteScheduler euler)
        {
            double? mu = Family == ModelFamily.Flux || euler.Config.UseDynamicShifting ? FlowMatchSigmas.CalculateShift(imageTokens, euler.Config) : null;
            euler.SetTimesteps(steps, Family == ModelFamily.Flux ? FlowMatchSigmas.FluxDefaultSigmas(steps) : null, mu);
            return;
        }
        if (Family == ModelFamily.Flux)
            throw new InvalidOptionException(nameof(GenerationOptions.Scheduler), $"FluxPipeline passes custom sigmas, which {scheduler.GetType().Name} does not take (diffusers refuses the same); use FlowMatchEulerDiscreteScheduler.");
        scheduler.SetTimesteps(steps);
    }

    /// <summary>Skip-layer guidance needs classifier-free guidance and a transformer that can skip the layers named.</summary>
    private void RequireSkipLayerGuidanceFits(GenerationOptions options)
    {
        if (options.SkipLayerGuidance is not { } slg)
            return;
        const string Option = nameof(GenerationOptions.SkipLayerGuidance);
        if (!((options.GuidanceScale ?? Family.DefaultGuidanceScale) > 1f))
            throw new InvalidOptionException(Option, "is added to classifier-free guidance, which this call does not run (GuidanceScale ≤ 1).");
        if (Transformer.SkippableLayers == 0)
            throw new InvalidOptionException(Option, $"needs a transformer that can skip blocks; {Transformer.ModelPath} (an ONNX export) cannot — load the model's safetensors instead.");
        if (slg.Layers.FirstOrDefault(layer => layer >= Transformer.SkippableLayers, -1) is int outside and >= 0)
            throw new InvalidOptionException(Option, $"layer {outside} does not exist: the transformer has {Transformer.SkippableLayers} joint blocks (0–{Transformer.SkippableLayers - 1}).");
    }

    /// <summary>The latents the loop starts from, in its layout, the step it starts at, and for inpainting the blend after
    /// each step with the resized picture and binarised pixel mask (for the paste-back).</summary>
    private sealed record LatentStart(float[] Latents, int StartIndex, long EncoderTicks)
    {
        public Action<int, Memory<float>>? AfterStep { get; init; }

        public ImageBuffer? FittedImage { get; init; }

        public float[]? PixelMask { get; init; }
    }

    /// <summary>
    /// Text-to-image: one N(0,1) draw of [n, C, h, w] (packed for FLUX.1). Image-to-image (the Img2Img pipelines'
    /// <c>get_timesteps</c> and <c>prepare_latents</c>): the schedule cut at t_start = int(max(steps − min(steps·strength,
    /// steps), 0)); the image resized, encoded (sampling the latent distribution with the call's random source first),
    /// shifted and scaled ((x − shift)·scaling), repeated over the batch, then noised to the first kept step with
    /// <c>scale_noise</c> by one more N(0,1) draw, and packed for FLUX.1. Inpainting (FluxInpaintPipeline,
    /// StableDiffusion3InpaintPipeline with a 16-channel transformer) starts the same way; see <see cref="KnownRegionBlend"/>.
    /// </summary>
    private LatentStart StartLatents(GenerationOptions options, IScheduler scheduler, IRandomSource random, int channels, int latentHeight,
        int latentWidth, RunOptions runOptions)
    {
        int batch = options.ImagesPerPrompt;
        int perImage = channels * latentHeight * latentWidth;
        float[] latents = new float[batch * perImage];
        int startIndex = 0;
        long encoderTicks = 0;
        if (options.InitImage is not { } image)
        {
            random.NextStandardNormal(latents);
        }
        else
        {
            double strength = options.Strength ?? Family.DefaultImageToImageStrength;
            int steps = options.Steps;
            startIndex = (int)Math.Max(steps - Math.Min(steps * strength, steps), 0) * scheduler.Order;
            if (startIndex >= scheduler.Timesteps.Length)
                throw new InvalidOptionException(nameof(GenerationOptions.Strength),
                    $"{strength} with {steps} steps leaves no denoising step (diffusers refuses the same); raise Strength or Steps.");
            float[] imageTensor = new float[3 * latentHeight * 8 * latentWidth * 8];
            ImageBuffer fitted = InpaintingMask.Fit(image, latentWidth * 8, latentHeight * 8);
            ImageTensorConverter.ToTensor(fitted, imageTensor);
            VaeEncoder encoder = _models.RequireVaeEncoder();
            if (encoder.LatentChannels != channels)
                throw new ModelContractException(encoder.ModelPath, encoder.LatentOutput.Name, $"encodes {encoder.LatentChannels} latent channels; the transformer works in {channels}.");
            float[] clean = new float[latents.Length];
            long e0 = Stopwatch.GetTimestamp();
            encoder.Encode(imageTensor, 1, latentHeight * 8, latentWidth * 8, clean.AsMemory(0, perImage), random, runOptions);
            encoderTicks = Stopwatch.GetTimestamp() - e0;
            _models.ReleaseIfSequential(encoder);
            DenoisingLoop.RequireFinite(clean.AsSpan(0, perImage), "VAE encoder", encoder.ModelPath, null);
            TensorPrimitives.Subtract(clean.AsSpan(0, perImage), VaeShiftFactor, clean.AsSpan(0, perImage));
            TensorPrimitives.Multiply(clean.AsSpan(0, perImage), VaeScalingFactor, clean.AsSpan(0, perImage));
            for (int i = 1; i < batch; i++)
                clean.AsSpan(0, perImage).CopyTo(clean.AsSpan(i * perImage));
            float[] noise = new float[latents.Length];
            random.NextStandardNormal(noise);
            scheduler.AddNoise(clean, noise, startIndex, latents);
            if (options.Mask is { } mask)
            {
                float[] pixelMask = InpaintingMask.Binarize(InpaintingMask.Fit(mask, latentWidth * 8, latentHeight * 8));
                // prepare_mask_latents encodes the masked picture too (its latents feed only inpainting transformers): a
                // sampling encoder draws its noise then, so the same draw keeps stochastic sampling on diffusers' stream.
                if (encoder.OutputsDistributionParameters)
                    random.NextStandardNormal(new float[perImage]);
                return new LatentStart(Packed(latents), startIndex, encoderTicks)
                {
                    AfterStep = KnownRegionBlend(scheduler, Packed(clean), Packed(noise), Packed(LatentMask(pixelMask, batch, channels, latentHeight, latentWidth))),
                    FittedImage = fitted,
                    PixelMask = pixelMask,
                };
            }
        }
        return new LatentStart(Packed(latents), startIndex, encoderTicks);

        float[] Packed(float[] values)
        {
            if (!Transformer.TakesPackedLatents)
                return values;
            float[] packed = new float[values.Length];
            FluxLatents.Pack(values, batch, channels, latentHeight, latentWidth, packed);
            return packed;
        }
    }

    /// <summary>The binarised pixel mask at latent resolution (nearest, as torch's <c>interpolate</c>), repeated over every
    /// channel of every image: [batch, channels, h, w].</summary>
    private static float[] LatentMask(float[] pixelMask, int batch, int channels, int latentHeight, int latentWidth)
    {
        float[] plane = InpaintingMask.ToLatentResolution(pixelMask, latentWidth * 8, latentHeight * 8);
        float[] mask = new float[batch * channels * plane.Length];
        for (int offset = 0; offset < mask.Length; offset += plane.Length)
            plane.CopyTo(mask, offset);
        return mask;
    }

    /// <summary>
    /// The inpainting pipelines' step for a 16-channel transformer: after step i, the known region (mask 0) takes the
    /// picture's latents noised to the next timestep (<c>scale_noise</c> with the start noise; the clean latents after the
    /// last step), the repainted region (mask 1) keeps the model's: <c>(1 − mask)·proper + mask·latents</c>. All arrays
    /// are in the loop's layout (packed for FLUX.1, where the mask is packed as the latents are).
    /// </summary>
    private static Action<int, Memory<float>> KnownRegionBlend(IScheduler scheduler, float[] clean, float[] noise, float[] mask)
    {
        float[] known = new float[clean.Length];
        return (i, latents) =>
        {
            if (i + 1 < scheduler.Timesteps.Length)
                scheduler.AddNoise(clean, noise, i + 1, known);
            else
                clean.CopyTo(known, 0);
            Span<float> values = latents.Span;
            for (int k = 0; k < values.Length; k++)
            {
                if (mask[k] < 0.5f)
                    values[k] = known[k];
            }
        };
    }

    /// <summary>
    /// latents / scaling + shift → VAE decoder → [-1, 1] images → RGB bytes; NaN or ∞ refused. With
    /// <see cref="GenerationOptions.PreserveUnmaskedPixels"/>, <c>pasteBack</c>'s picture is pasted back outside its mask
    /// (feathered by <c>maskBlur</c>). <c>tiled</c>: decoded in tiles (MemoryMode.Auto's choice for a decode that would not fit).
    /// </summary>
    private (ImageBuffer[] Images, long DecoderTicks, long ConversionTicks) Decode(float[] latents, int batch, int width, int height,
        LatentStart? pasteBack, int maskBlur, bool tiled, RunOptions runOptions)
    {
        float[] decoderInput = new float[latents.Length];
        TensorPrimitives.Divide(latents, VaeScalingFactor, decoderInput);
        TensorPrimitives.Add(decoderInput, VaeShiftFactor, decoderInput);
        float[] decoded = new float[batch * 3 * height * width];
        long d0 = Stopwatch.GetTimestamp();
        if (tiled)
            new TiledVaeDecoder(_models.VaeDecoder).Decode(decoderInput, batch, height / 8, width / 8, decoded, runOptions);
        else
            _models.VaeDecoder.Decode(decoderInput, batch, height / 8, width / 8, decoded, runOptions);
        _models.ReleaseIfSequential(_models.VaeDecoder);
        long d1 = Stopwatch.GetTimestamp();
        DenoisingLoop.RequireFinite(decoded, "VAE decoder", _models.VaeDecoder.ModelPath, null);
        ImageBuffer[] images = ImageTensorConverter.FromTensor(decoded, batch, height, width);
        if (pasteBack is { PixelMask: { } pixelMask, FittedImage: { } original })
        {
            float[] alpha = InpaintingMask.Feather(pixelMask, width, height, maskBlur);
            foreach (ImageBuffer image in images)
                InpaintingMask.PasteOriginal(image, original, alpha);
        }
        return (images, d1 - d0, Stopwatch.GetTimestamp() - d1);
    }
}
