using Diffusion.Core.Imaging;

namespace Diffusion.Core.Tests.Imaging;

public sealed class LatentPreviewTests
{
    [Fact]
    public void ProjectsEachLatentPixelWithTheSd1Factors()
    {
        // Four 1x4 latent pixels (channel vectors below). Expected bytes from torch 1.13:
        // einsum("lxy,lr -> rxy", latents, factors), then ((x * 0.5 + 0.5).clamp(0, 1) * 255).round().
        float[][] pixels =
        [
            [1f, 0f, 0f, 0f],       // -> factors row 0: (0.298, 0.207, 0.208)
            [0f, 0f, 0f, 1f],       // -> factors row 3: (-0.184, -0.271, -0.473)
            [0.5f, -1.25f, 2f, 0.75f],
            [3f, 3f, 3f, 3f],       // G = 1.233 saturates
        ];
        var latents = new float[4 * 4];
        for (int p = 0; p < 4; p++)
            for (int c = 0; c < 4; c++)
                latents[c * 4 + p] = pixels[p][c];

        ImageBuffer preview = LatentPreview.ToImage(latents, 1, 4);

        Assert.Equal((4, 1), (preview.Width, preview.Height));
        Assert.Equal(new byte[] { 165, 154, 154, 104, 93, 67, 59, 117, 135, 182, 255, 193 }, preview.Pixels);
    }

    [Fact]
    public void LatentOfTheWrongLengthIsRejected()
        => Assert.Throws<ArgumentException>(() => LatentPreview.ToImage(new float[3 * 8 * 8], 8, 8));
}
