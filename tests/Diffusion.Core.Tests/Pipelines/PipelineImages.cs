using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Imaging.Skia;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>Small test images for image-to-image and inpainting, and the measures the tests report.</summary>
internal static class PipelineImages
{
    /// <summary>images/astronaut.png (512×512) resized to <paramref name="size"/>² with Pillow's Lanczos.</summary>
    public static ImageBuffer Astronaut(int size = 64) =>
        ImageOperations.Resize(SkiaImageCodec.Load(SharedData.Require("images/astronaut.png")), size, size);

    /// <summary>A black mask with a white rectangle [left, left+width) × [top, top+height).</summary>
    public static ImageBuffer RectangleMask(int imageWidth, int imageHeight, int left, int top, int width, int height)
    {
        var mask = new ImageBuffer(imageWidth, imageHeight);
        for (int y = top; y < top + height; y++)
            mask.Pixels.AsSpan(3 * (y * imageWidth + left), 3 * width).Fill(255);
        return mask;
    }

    /// <summary>The VAE round trip diffusers would give: encode, × scaling factor, ÷ scaling factor, decode.</summary>
    public static ImageBuffer RoundTrip(string folder, ImageBuffer image)
    {
        using var encoder = VaeEncoder.Load(Path.Combine(folder, "vae_encoder", "model.onnx"), TinySd.Session);
        using var decoder = VaeDecoder.Load(Path.Combine(folder, "vae_decoder", "model.onnx"), TinySd.Session);
        float[] pixels = new float[3 * image.Width * image.Height];
        ImageTensorConverter.ToTensor(image, pixels);
        float[] latents = new float[4 * (image.Width / 8) * (image.Height / 8)];
        encoder.Encode(pixels, 1, image.Height, image.Width, latents);
        for (int i = 0; i < latents.Length; i++)
            latents[i] = latents[i] * 0.18215f / 0.18215f;
        decoder.Decode(latents, 1, image.Height / 8, image.Width / 8, pixels);
        return ImageTensorConverter.FromTensor(pixels, 1, image.Height, image.Width)[0];
    }

    /// <summary>Peak signal-to-noise ratio in dB over all channels (255 peak).</summary>
    public static double Psnr(ImageBuffer a, ImageBuffer b)
    {
        double sum = 0;
        for (int i = 0; i < a.Pixels.Length; i++)
        {
            double d = a.Pixels[i] - b.Pixels[i];
            sum += d * d;
        }
        double mse = sum / a.Pixels.Length;
        return 10 * Math.Log10(255.0 * 255.0 / mse);
    }
}
