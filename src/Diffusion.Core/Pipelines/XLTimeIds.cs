namespace Diffusion.Core.Pipelines;

/// <summary>
/// SDXL's micro-conditioning <c>time_ids</c> (diffusers' <c>_get_add_time_ids</c>): the base model's six values
/// <c>(original height, original width, crop top, crop left, target height, target width)</c>, the refiner's five
/// <c>(original height, original width, crop top, crop left, aesthetic score)</c>. Sizes not given are the output size.
/// </summary>
internal static class XLTimeIds
{
    /// <summary>The prompt's and the negative prompt's ids (the same for the base model; the refiner's differ in the aesthetic score).</summary>
    public static (float[] Conditional, float[] Unconditional) Create(GenerationOptions options, int width, int height, bool aestheticScore)
    {
        PixelSize original = options.OriginalSize ?? new PixelSize(width, height);
        PixelSize target = options.TargetSize ?? new PixelSize(width, height);
        if (aestheticScore)
        {
            return ([original.Height, original.Width, options.CropTop, options.CropLeft, options.AestheticScore],
                    [original.Height, original.Width, options.CropTop, options.CropLeft, options.NegativeAestheticScore]);
        }
        float[] ids = [original.Height, original.Width, options.CropTop, options.CropLeft, target.Height, target.Width];
        return (ids, ids);
    }
}
