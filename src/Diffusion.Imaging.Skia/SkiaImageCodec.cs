namespace Diffusion.Imaging.Skia;

/// <summary>Placeholder removed when the codec lands.</summary>
internal static class SkiaImageCodec
{
}
