namespace Diffusion.Core.Benchmarks;

/// <summary>PSNR of two 8-bit images of the same size (peak 255); +∞ for identical images.</summary>
internal static class ImagePsnr
{
    public static double Of(byte[] a, byte[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i];
            sum += d * d;
        }
        double mse = sum / a.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(255.0 * 255.0 / mse);
    }
}
