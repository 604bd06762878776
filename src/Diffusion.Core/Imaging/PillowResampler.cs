namespace Diffusion.Core.Imaging;

/// <summary>
/// Separable convolution resampling that reproduces Pillow's <c>Image.resize</c> for 8-bit RGB images bit for bit
/// (<c>libImaging/Resample.c</c>, with <c>reducing_gap=None</c>): coefficients computed in double precision,
/// normalised to sum 1, quantised to 22-bit fixed point; a horizontal pass rounded to bytes, then a vertical pass.
/// </summary>
internal static class PillowResampler
{
    /// <summary>Fixed-point fraction bits: 32 − 8 (pixel) − 2 (headroom for negative lobes and overshoot).</summary>
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Resamples <paramref name="source"/> to <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static ImageBuffer Resize(ImageBuffer source, int width, int height, ResamplingFilter filter)
    {
        // Same size: Pillow returns a copy without filtering.
        if (width == source.Width && height == source.Height)
            return new ImageBuffer(width, height, (byte[])source.Pixels.Clone());

        var vertical = Coefficients.Compute(source.Height, height, filter);
        // Only the source rows the vertical pass reads need the horizontal pass.
        int firstRow = vertical.Start[0];
        int lastRow = vertical.Start[height - 1] + vertical.Count[height - 1];

        byte[] rows = source.Pixels;
        int rowsWidth = source.Width;
        int rowOffset = 0;
        if (width != source.Width)
        {
            var horizontal = Coefficients.Compute(source.Width, width, filter);
            rows = new byte[(lastRow - firstRow) * width * 3];
            ResampleHorizontal(source.Pixels, source.Width, firstRow, lastRow, rows, width, horizontal);
            rowsWidth = width;
            rowOffset = firstRow;
        }

        if (height == source.Height)
            return new ImageBuffer(width, height, rows);

        var result = new byte[width * height * 3];
        ResampleVertical(rows, rowsWidth, rowOffset, result, height, vertical);
        return new ImageBuffer(width, height, result);
    }

    private static void ResampleHorizontal(
        byte[] source, int sourceWidth, int firstRow, int lastRow, byte[] destination, int width, Coefficients coefficients)
    {
        const int Half = 1 << (PrecisionBits - 1);
        for (int y = firstRow; y < lastRow; y++)
        {
            ReadOnlySpan<byte> lineIn = source.AsSpan(y * sourceWidth * 3, sourceWidth * 3);
            Span<byte> lineOut = destination.AsSpan((y - firstRow) * width * 3, width * 3);
            for (int x = 0; x < width; x++)
            {
                int start = coefficients.Start[x];
                ReadOnlySpan<int> k = coefficients.Kernel(x);
                ReadOnlySpan<byte> pixels = lineIn.Slice(start * 3, k.Length * 3);
                int r = Half, g = Half, b = Half;
                for (int i = 0; i < k.Length; i++)
                {
                    r += pixels[3 * i] * k[i];
                    g += pixels[3 * i + 1] * k[i];
                    b += pixels[3 * i + 2] * k[i];
                }
                lineOut[3 * x] = Clip8(r);
                lineOut[3 * x + 1] = Clip8(g);
                lineOut[3 * x + 2] = Clip8(b);
            }
        }
    }

    private static void ResampleVertical(
        byte[] source, int width, int rowOffset, byte[] destination, int height, Coefficients coefficients)
    {
        const int Half = 1 << (PrecisionBits - 1);
        int stride = width * 3;
        // Row-at-a-time accumulation keeps the reads sequential; integer sums are order-independent, so this
        // equals Pillow's column-at-a-time loop exactly.
        int[] sums = new int[stride];
        for (int y = 0; y < height; y++)
        {
            int start = coefficients.Start[y] - rowOffset;
            ReadOnlySpan<int> k = coefficients.Kernel(y);
            Span<int> accumulator = sums;
            accumulator.Fill(Half);
            for (int i = 0; i < k.Length; i++)
            {
                int weight = k[i];
                ReadOnlySpan<byte> lineIn = source.AsSpan((start + i) * stride, stride);
                for (int c = 0; c < accumulator.Length; c++)
                    accumulator[c] += lineIn[c] * weight;
            }
            Span<byte> lineOut = destination.AsSpan(y * stride, stride);
            for (int c = 0; c < lineOut.Length; c++)
                lineOut[c] = Clip8(accumulator[c]);
        }
    }

    /// <summary>Pillow's <c>clip8</c>: drop the fraction bits (arithmetic shift), then saturate to a byte.</summary>
    private static byte Clip8(int value) => (byte)Math.Clamp(value >> PrecisionBits, 0, 255);

    /// <summary>Per output position: the first source index, how many source samples, and their fixed-point weights.</summary>
    private sealed class Coefficients
    {
        private readonly int[] _weights;
        private readonly int _stride;

        private Coefficients(int[] start, int[] count, int[] weights, int stride)
        {
            Start = start;
            Count = count;
            _weights = weights;
            _stride = stride;
        }

        public int[] Start { get; }

        public int[] Count { get; }

        public ReadOnlySpan<int> Kernel(int output) => _weights.AsSpan(output * _stride, Count[output]);

        /// <summary>Pillow's <c>precompute_coeffs</c> + <c>normalize_coeffs_8bpc</c> for the box (0, inSize).</summary>
        public static Coefficients Compute(int inSize, int outSize, ResamplingFilter filter)
        {
            double scale = (double)inSize / outSize;
            double filterScale = scale < 1.0 ? 1.0 : scale;
            double support = Support(filter) * filterScale;
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[outSize];
            var count = new int[outSize];
            var weights = new int[outSize * stride];
            var kernel = new double[stride];
            double inverseFilterScale = 1.0 / filterScale;
            for (int xx = 0; xx < outSize; xx++)
            {
                double center = (xx + 0.5) * scale;
                // (int) truncates toward zero, as the C cast does; negative values are clamped right after.
                int xmin = (int)(center - support + 0.5);
                if (xmin < 0)
                    xmin = 0;
                int xmax = (int)(center + support + 0.5);
                if (xmax > inSize)
                    xmax = inSize;
                xmax -= xmin;
                double sum = 0.0;
                for (int x = 0; x < xmax; x++)
                {
                    double w = Evaluate(filter, (x + xmin - center + 0.5) * inverseFilterScale);
                    kernel[x] = w;
                    sum += w;
                }
                for (int x = 0; x < xmax; x++)
                {
                    double k = sum != 0.0 ? kernel[x] / sum : kernel[x];
                    weights[xx * stride + x] = k < 0
                        ? (int)(-0.5 + k * (1 << PrecisionBits))
                        : (int)(0.5 + k * (1 << PrecisionBits));
                }
                start[xx] = xmin;
                count[xx] = xmax;
            }
            return new Coefficients(start, count, weights, stride);
        }

        private static double Support(ResamplingFilter filter) => filter switch
        {
            ResamplingFilter.Lanczos => 3.0,
            ResamplingFilter.Bicubic => 2.0,
            ResamplingFilter.Bilinear => 1.0,
            ResamplingFilter.Box => 0.5,
            _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "Unknown resampling filter."),
        };

        private static double Evaluate(ResamplingFilter filter, double x) => filter switch
        {
            ResamplingFilter.Lanczos => -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0,
            ResamplingFilter.Bicubic => Bicubic(x),
            ResamplingFilter.Bilinear => Math.Abs(x) < 1.0 ? 1.0 - Math.Abs(x) : 0.0,
            _ => x > -0.5 && x <= 0.5 ? 1.0 : 0.0,
        };

        private static double Sinc(double x)
        {
            if (x == 0.0)
                return 1.0;
            x *= Math.PI;
            return Math.Sin(x) / x;
        }

        /// <summary>Keys' cubic convolution with a = −0.5, written in Pillow's Horner form so rounding matches.</summary>
        private static double Bicubic(double x)
        {
            const double A = -0.5;
            if (x < 0.0)
                x = -x;
            if (x < 1.0)
                return ((A + 2.0) * x - (A + 3.0)) * x * x + 1;
            if (x < 2.0)
                return (((x - 5) * x + 8) * x - 4) * A;
            return 0.0;
        }
    }
}
