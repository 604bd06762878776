using System.Diagnostics;
using System.Numerics.Tensors;
using Diffusion.Core.Imaging;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The end of a call: latents / scaling factor → VAE decoder → [-1, 1] images → RGB bytes, NaN/∞ refused, and for
/// inpainting with <see cref="GenerationOptions.PreserveUnmaskedPixels"/> the original pixels pasted back outside the mask.
/// </summary>
internal static class ImageDecoding
{
    /// <summary>Decodes <paramref name="latents"/> ([batch, 4, h/8, w/8]) into images of <paramref name="width"/> × <paramref name="height"/>,
    /// in tiles when <c>tiled</c> (MemoryMode.Auto's choice for a decode that would not fit).</summary>
    /// <returns>The images, the ticks in the decoder and the ticks converting and pasting.</returns>
    public static (ImageBuffer[] Images, long DecoderTicks, long ConversionTicks) Decode(PipelineModels models, float vaeScalingFactor, bool vaeForceUpcast,
        float[] latents, int batch, int width, int height, GenerationOptions options, LatentInitializer.Result start, bool tiled, RunOptions runOptions)
    {
        float[] decoderInput = new float[latents.Length];
        TensorPrimitives.Divide(latents, vaeScalingFactor, decoderInput);
        float[] decoded = new float[batch * 3 * height * width];
        long d0 = Stopwatch.GetTimestamp();
        if (tiled)
            new Models.TiledVaeDecoder(models.VaeDecoder).Decode(decoderInput, batch, height / 8, width / 8, decoded, runOptions);
        else
            models.VaeDecoder.Decode(decoderInput, batch, height / 8, width / 8, decoded, runOptions);
        models.ReleaseIfSequential(models.VaeDecoder);
        if (Overflowed(models, decoded) && models.VaeDecoderFallbackPath is not null)
        {
            // diffusers upcasts a force_upcast VAE to float32 for the decode; an ONNX graph cannot be, a float32 export can.
            Models.VaeDecoder fallback = models.RequireFallbackDecoder();
            fallback.Decode(decoderInput, batch, height / 8, width / 8, decoded, runOptions);
            models.ReleaseIfSequential(fallback);
            DenoisingLoop.RequireFinite(decoded, "VAE decoder", fallback.ModelPath, null);
        }
        long d1 = Stopwatch.GetTimestamp();
        RequireFiniteImages(models, decoded, vaeForceUpcast);
        ImageBuffer[] images = ImageTensorConverter.FromTensor(decoded, batch, height, width);
        if (options.PreserveUnmaskedPixels)
        {
            float[] alpha = InpaintingMask.Feather(start.PixelMask!, width, height, options.MaskBlur);
            foreach (ImageBuffer image in images)
                InpaintingMask.PasteOriginal(image, start.FittedImage!, alpha);
        }
        return (images, d1 - d0, Stopwatch.GetTimestamp() - d1);
    }

    /// <summary>Whether a float16 decoder's output holds NaN or ±∞ (the overflow a float32 decoder avoids).</summary>
    private static bool Overflowed(PipelineModels models, float[] decoded)
        => models.VaeDecoder.ElementKind == Models.TensorElementKind.Float16 && !float.IsFinite(TensorPrimitives.Sum(decoded));

    /// <summary>
    /// A decode with NaN or ±∞ never becomes an image. A float16 decoder that overflows is the known case (SDXL's VAE
    /// does; its config sets <c>force_upcast</c>, which an ONNX graph cannot honour by itself): the error names the file
    /// and the fixes.
    /// </summary>
    private static void RequireFiniteImages(PipelineModels models, float[] decoded, bool vaeForceUpcast)
    {
        try
        {
            DenoisingLoop.RequireFinite(decoded, "VAE decoder", models.VaeDecoder.ModelPath, null);
        }
        catch (NumericalInstabilityException) when (models.VaeDecoder.ElementKind == Models.TensorElementKind.Float16)
        {
            string config = vaeForceUpcast ? " (its config.json sets force_upcast: this VAE overflows in float16, as SDXL's does)" : string.Empty;
            throw new NumericalInstabilityException("VAE decoder", models.VaeDecoder.ModelPath, null,
                $"the float16 decoder overflowed{config}: its output holds NaN or infinite values. Export vae_decoder in float32, give a float32 decoder as " +
                $"{nameof(PipelineSettings.VaeDecoderFallbackPath)}, or use an fp16-safe VAE (e.g. madebyollin/sdxl-vae-fp16-fix for SDXL).");
        }
    }
}
