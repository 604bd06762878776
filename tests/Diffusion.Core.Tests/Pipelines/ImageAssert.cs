using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines;

internal static class ImageAssert
{
    /// <summary>One image of the given size that is not a single flat colour.</summary>
    public static void SingleImage(GenerationResult result, int width, int height)
    {
        Assert.Single(result.Images);
        Assert.Equal(width, result.Images[0].Width);
        Assert.Equal(height, result.Images[0].Height);
        byte[] pixels = result.Images[0].Pixels;
        Assert.Contains(pixels, p => p != pixels[0]);
    }
}
