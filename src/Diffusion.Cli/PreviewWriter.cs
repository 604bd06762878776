using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Imaging.Skia;

namespace Diffusion.Cli;

/// <summary>
/// Writes a preview of the first image every N steps (and after the last): the latents projected to RGB at latent size
/// (A1111's "Approx cheap"), or, given a small VAE decoder such as TAESD, decoded at full size.
/// </summary>
internal sealed class PreviewWriter(string folder, int every, GenerationOptions options, VaeDecoder? decoder)
{
    // SD 1.x/2.x's VAE scaling factor: previews are offered for that family only (its latents are what the fixed
    // projection and TAESD's SD decoder expect).
    private const float ScalingFactor = 0.18215f;
    private readonly double _aspect = (double)(options.Height ?? options.InitImage?.Height ?? 1) / (options.Width ?? options.InitImage?.Width ?? 1);
    private bool _warned;

    public void Write(GenerationProgress step)
    {
        if ((step.Step % every != 0 && step.Step != step.TotalSteps) || step.Latents.IsEmpty)
            return;
        // The latents are [images, 4, h, w]; h and w follow from their length and the image's aspect ratio (the pipeline
        // settles the size from the options, an init image or the model's default).
        int perImage = step.Latents.Length / options.ImagesPerPrompt;
        int area = perImage / LatentPreview.LatentChannels;
        int height = (int)Math.Round(Math.Sqrt(area * _aspect));
        int width = height == 0 ? 0 : area / height;
        if (width * height * LatentPreview.LatentChannels != perImage || perImage * options.ImagesPerPrompt != step.Latents.Length)
        {
            if (!_warned)
                ConsoleOutput.Warning("--preview: the latents are not 4-channel images of the expected size; no previews are written.");
            _warned = true;
            return;
        }
        ReadOnlySpan<float> latents = step.Latents.Span[..perImage];
        ImageBuffer preview;
        if (decoder is null)
        {
            preview = LatentPreview.ToImage(latents, height, width);
        }
        else
        {
            float[] unscaled = new float[perImage];
            System.Numerics.Tensors.TensorPrimitives.Multiply(latents, 1f / ScalingFactor, unscaled);
            float[] image = new float[3 * height * width * VaeDecoder.UpscaleFactor * VaeDecoder.UpscaleFactor];
            decoder.Decode(unscaled, 1, height, width, image);
            preview = ImageTensorConverter.FromTensor(image, 1, height * VaeDecoder.UpscaleFactor, width * VaeDecoder.UpscaleFactor)[0];
        }
        SkiaImageCodec.Save(preview, Path.Combine(folder, $"step-{step.Step:D3}.png"));
    }
}
