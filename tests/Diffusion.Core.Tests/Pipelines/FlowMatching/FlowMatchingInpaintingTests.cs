using Diffusion.Core.Imaging;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>
/// SD3/FLUX.1 inpainting beyond the reference runs (FlowMatchingPipelineReferenceTests, cases *-inpaint): the mask is what
/// makes those results (the same call without it differs), and the paste-back keeps the picture's bytes outside the mask.
/// </summary>
public sealed class FlowMatchingInpaintingTests
{
    [Theory]
    [InlineData("flux-dev-inpaint")]
    [InlineData("sd3-inpaint-strength")]
    public void Without_the_mask_the_same_call_is_plain_image_to_image_and_differs(string name)
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Folder(name));
        float[] unmasked = pipeline.Generate(TinyFlowModels.Options(name) with { Mask = null }).Latents;
        float[] inpainted = TinyFlowModels.Latents(name);
        Assert.True(unmasked.Zip(inpainted).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f);
    }

    [Fact]
    public void Preserving_unmasked_pixels_keeps_the_pictures_bytes_outside_the_mask()
    {
        GenerationOptions options = TinyFlowModels.Options("flux-schnell-inpaint") with { PreserveUnmaskedPixels = true };
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxSchnell);
        ImageBuffer image = Assert.Single(pipeline.Generate(options).Images);
        ImageBuffer original = options.InitImage!, mask = options.Mask!;
        int kept = 0, changed = 0;
        for (int p = 0; p < image.Width * image.Height; p++)
        {
            bool repaint = mask.Pixels[3 * p] >= 128;
            bool same = image.Pixels.AsSpan(3 * p, 3).SequenceEqual(original.Pixels.AsSpan(3 * p, 3));
            if (!repaint)
            {
                Assert.True(same, $"pixel {p} outside the mask changed");
                kept++;
            }
            else if (!same)
            {
                changed++;
            }
        }
        Assert.True(kept > 0 && changed > 0, $"{kept} kept, {changed} repainted");
    }
}
