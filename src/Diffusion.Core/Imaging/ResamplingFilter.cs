namespace Diffusion.Core.Imaging;

/// <summary>
/// The reconstruction filter <see cref="ImageOperations.Resize"/> uses. Each one is Pillow's filter of the same
/// name (<c>PIL.Image.Resampling</c>), stretched by the scale factor when shrinking so that downscaling is
/// antialiased (every source pixel contributes).
/// </summary>
public enum ResamplingFilter
{
    /// <summary>Lanczos with 3 lobes (support 3): Pillow's <c>LANCZOS</c>, the filter diffusers' <c>VaeImageProcessor</c> uses by default.</summary>
    Lanczos,

    /// <summary>Cubic convolution with a = −0.5 (support 2): Pillow's <c>BICUBIC</c>.</summary>
    Bicubic,

    /// <summary>Triangle filter (support 1): Pillow's <c>BILINEAR</c>.</summary>
    Bilinear,

    /// <summary>Box filter (support 0.5): Pillow's <c>BOX</c>; an area average when shrinking by a whole factor.</summary>
    Box,
}
