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
    /// <summary>Decodes <paramref name="latents"/> ([batch, 4, h/8, w/8]) into images of <paramref name="width"/> × <paramref name="height"/>.</summary>
    /// <returns>The images, the ticks in the decoder and the ticks converting and pasting.</returns>
    public static (ImageBuffer[] Images, long DecoderTicks, long ConversionTicks) Decode(PipelineModels models, float vaeScalingFactor,
        float[] latents, int batch, int width, int height, GenerationOptions options, LatentInitializer.Result start, RunOptions runOptions)
    {
        float[] decoderInput = new float[latents.Length];
        TensorPrimitives.Divide(latents, vaeScalingFactor, decoderInput);
        float[] decoded = new float[batch * 3 * height * width];
        long d0 = Stopwatch.GetTimestamp();
        models.VaeDecoder.Decode(decoderInput, batch, height / 8, width / 8, decoded, runOptions);
        models.ReleaseIfSequential(models.VaeDecoder);
        long d1 = Stopwatch.GetTimestamp();
        DenoisingLoop.RequireFinite(decoded, "VAE decoder", models.VaeDecoder.ModelPath, null);
        ImageBuffer[] images = ImageTensorConverter.FromTensor(decoded, batch, height, width);
        if (options.PreserveUnmaskedPixels)
        {
            float[] alpha = InpaintingMask.Feather(start.PixelMask!, width, height, options.MaskBlur);
            foreach (ImageBuffer image in images)
                InpaintingMask.PasteOriginal(image, start.FittedImage!, alpha);
        }
        return (images, d1 - d0, Stopwatch.GetTimestamp() - d1);
    }
}
