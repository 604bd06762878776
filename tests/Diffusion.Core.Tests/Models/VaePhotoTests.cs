using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Imaging.Skia;

namespace Diffusion.Core.Tests.Models;

public sealed class VaePhotoTests(ITestOutputHelper output)
{
    [Fact]
    public void DecodingTheAstronautLatentsReproducesThePhoto()
    {
        // reference/astronaut_lat.f32 is TAESD's unscaled encoding of images/astronaut.png (tiny-sd-variants README);
        // the TAESD README measures the encode→decode round trip at 25.35 dB PSNR.
        float[] latents = ReferenceTensors.ReadFloats("astronaut_lat.f32");
        using var decoder = VaeDecoder.Load(ReferenceTensors.TinySd("vae_decoder/model.onnx"));
        float[] decoded = new float[3 * 512 * 512];
        decoder.Decode(latents, 1, 64, 64, decoded);
        ImageBuffer image = ImageTensorConverter.FromTensor(decoded, 1, 512, 512)[0];
        ImageBuffer photo = SkiaImageCodec.Load(SharedData.Require("images/astronaut.png"));

        double psnr = ImageQuality.PeakSignalToNoiseRatio(image, photo);
        output.WriteLine($"TAESD decode of astronaut_lat.f32 vs astronaut.png: PSNR {psnr:F2} dB");

        Assert.InRange(psnr, 24.5, 26.5);
    }
}
