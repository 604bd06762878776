using System.Numerics.Tensors;

namespace Diffusion.Core.Imaging;

/// <summary>
/// The Canny edge annotator of ControlNet's canny models: OpenCV's <c>cv2.Canny(image, low, high)</c> applied to
/// the RGB image as A1111's sd-webui-controlnet, controlnet_aux's <c>CannyDetector</c> and the diffusers examples
/// call it (no blur, no grayscale conversion), returned as white edges on black in three channels.
/// </summary>
/// <remarks>
/// The algorithm is OpenCV's (<c>imgproc/src/canny.cpp</c>, aperture 3):
/// <list type="number">
/// <item>Per channel, 3×3 Sobel derivatives <c>dx</c>, <c>dy</c> in integers with replicated borders.</item>
/// <item>Magnitude <c>|dx| + |dy|</c> (or <c>dx² + dy²</c> with <c>l2Gradient</c>, thresholds squared); each pixel keeps
/// the channel of largest magnitude (the first on ties).</item>
/// <item>Non-maximum suppression along the gradient direction quantised at 22.5° in 15-bit fixed point, with OpenCV's
/// asymmetric comparisons (<c>&gt;</c> on one side, <c>≥</c> on the other for horizontal and vertical edges).</item>
/// <item>Hysteresis: a surviving pixel with magnitude &gt; ⌊high⌋ is an edge; one with magnitude &gt; ⌊low⌋ is an edge
/// when 8-connected to an edge.</item>
/// </list>
/// A Gaussian blur is not part of <c>cv2.Canny</c>; blur the image first for noisy photos if wanted.
/// Verified pixel for pixel against a numpy transcription of these rules (tools/reference-data/controlnet/canny_reference.py).
/// </remarks>
public static class CannyEdgeDetector
{
    // tan(22.5°) in 15-bit fixed point, as OpenCV's TG22.
    private const int Shift = 15;
    private const int Tan22 = 13573;

    /// <summary>Finds the edges of <paramref name="image"/>.</summary>
    /// <param name="image">The RGB image (not modified).</param>
    /// <param name="lowThreshold">Hysteresis low threshold (A1111's default 100); swapped with the high one when larger.</param>
    /// <param name="highThreshold">Hysteresis high threshold (A1111's default 200).</param>
    /// <param name="l2Gradient">Use <c>√(dx² + dy²)</c> rather than <c>|dx| + |dy|</c> (OpenCV's <c>L2gradient</c>; off by default).</param>
    /// <returns>A new image of the same size: (255, 255, 255) on edges, (0, 0, 0) elsewhere.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A threshold is negative or not finite.</exception>
    public static ImageBuffer Detect(ImageBuffer image, double lowThreshold = 100, double highThreshold = 200, bool l2Gradient = false)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!double.IsFinite(lowThreshold) || lowThreshold < 0)
            throw new ArgumentOutOfRangeException(nameof(lowThreshold), lowThreshold, "must be a finite number ≥ 0.");
        if (!double.IsFinite(highThreshold) || highThreshold < 0)
            throw new ArgumentOutOfRangeException(nameof(highThreshold), highThreshold, "must be a finite number ≥ 0.");
        if (lowThreshold > highThreshold)
            (lowThreshold, highThreshold) = (highThreshold, lowThreshold);
        if (l2Gradient)
        {
            lowThreshold = Math.Min(32767.0, lowThreshold);
            highThreshold = Math.Min(32767.0, highThreshold);
            lowThreshold *= lowThreshold;
            highThreshold *= highThreshold;
        }
        int low = (int)Math.Floor(lowThreshold);
        int high = (int)Math.Floor(highThreshold);

        int width = image.Width, height = image.Height;
        int stride = width + 2;
        // Magnitudes with a one-pixel border of zeros, and the winning channel's derivatives.
        int[] magnitude = new int[(height + 2) * stride];
        int[] dx = new int[width * height];
        int[] dy = new int[width * height];
        ComputeGradients(image, l2Gradient, magnitude, dx, dy);

        // 0: not an edge; 1: candidate (survives suppression, > low); 2: edge.
        byte[] state = new byte[width * height];
        var stack = new Stack<int>();
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int center = (y + 1) * stride + x + 1;
                int m = magnitude[center];
                if (m <= low || !IsLocalMaximum(magnitude, center, stride, m, dx[y * width + x], dy[y * width + x]))
                    continue;
                int index = y * width + x;
                if (m > high)
                {
                    state[index] = 2;
                    stack.Push(index);
                }
                else
                {
                    state[index] = 1;
                }
            }
        }

        while (stack.Count > 0)
        {
            int index = stack.Pop();
            int y = index / width, x = index % width;
            for (int ny = Math.Max(0, y - 1); ny <= Math.Min(height - 1, y + 1); ny++)
            {
                for (int nx = Math.Max(0, x - 1); nx <= Math.Min(width - 1, x + 1); nx++)
                {
                    int neighbour = ny * width + nx;
                    if (state[neighbour] == 1)
                    {
                        state[neighbour] = 2;
                        stack.Push(neighbour);
                    }
                }
            }
        }

        byte[] pixels = new byte[width * height * 3];
        for (int i = 0; i < state.Length; i++)
        {
            if (state[i] == 2)
                pixels.AsSpan(i * 3, 3).Fill(255);
        }
        return new ImageBuffer(width, height, pixels);
    }

    private static bool IsLocalMaximum(int[] magnitude, int center, int stride, int m, int gradientX, int gradientY)
    {
        long x = Math.Abs(gradientX);
        long y = (long)Math.Abs(gradientY) << Shift;
        long tan22x = x * Tan22;
        if (y < tan22x)
            return m > magnitude[center - 1] && m >= magnitude[center + 1];
        long tan67x = tan22x + (x << (Shift + 1));
        if (y > tan67x)
            return m > magnitude[center - stride] && m >= magnitude[center + stride];
        int s = (gradientX ^ gradientY) < 0 ? -1 : 1;
        return m > magnitude[center - stride - s] && m > magnitude[center + stride + s];
    }

    /// <summary>Sobel derivatives of each channel (replicated borders), reduced to the channel of largest magnitude per pixel.</summary>
    private static void ComputeGradients(ImageBuffer image, bool l2Gradient, int[] magnitude, int[] dx, int[] dy)
    {
        int width = image.Width, height = image.Height;
        int paddedWidth = width + 2;
        // Three padded rows of one channel (replicated border), and per-row scratch.
        int[] plane = new int[(height + 2) * paddedWidth];
        int[] channelDx = new int[width];
        int[] channelDy = new int[width];
        int[] channelMagnitude = new int[width];
        int[] scratch = new int[width];
        int[] bestMagnitude = new int[width * height];
        byte[] pixels = image.Pixels;
        for (int channel = 0; channel < 3; channel++)
        {
            for (int y = 0; y < height + 2; y++)
            {
                int sourceY = Math.Clamp(y - 1, 0, height - 1);
                int row = y * paddedWidth;
                for (int x = 0; x < width + 2; x++)
                {
                    int sourceX = Math.Clamp(x - 1, 0, width - 1);
                    plane[row + x] = pixels[(sourceY * width + sourceX) * 3 + channel];
                }
            }
            for (int y = 0; y < height; y++)
            {
                ReadOnlySpan<int> above = plane.AsSpan(y * paddedWidth, paddedWidth);
                ReadOnlySpan<int> middle = plane.AsSpan((y + 1) * paddedWidth, paddedWidth);
                ReadOnlySpan<int> below = plane.AsSpan((y + 2) * paddedWidth, paddedWidth);
                // dx = (a[x+1] + 2·m[x+1] + b[x+1]) − (a[x−1] + 2·m[x−1] + b[x−1]), in padded coordinates.
                Span<int> gx = channelDx, gy = channelDy, tmp = scratch;
                TensorPrimitives.Subtract(above[2..], above[..width], gx);
                TensorPrimitives.Subtract(middle[2..], middle[..width], tmp);
                TensorPrimitives.MultiplyAdd(tmp, 2, gx, gx);
                TensorPrimitives.Subtract(below[2..], below[..width], tmp);
                TensorPrimitives.Add(gx, tmp, gx);
                // dy = (b[x−1] + 2·b[x] + b[x+1]) − (a[x−1] + 2·a[x] + a[x+1]).
                TensorPrimitives.Subtract(below[..width], above[..width], gy);
                TensorPrimitives.Subtract(below.Slice(1, width), above.Slice(1, width), tmp);
                TensorPrimitives.MultiplyAdd(tmp, 2, gy, gy);
                TensorPrimitives.Subtract(below[2..], above[2..], tmp);
                TensorPrimitives.Add(gy, tmp, gy);
                if (l2Gradient)
                {
                    TensorPrimitives.Multiply(gx, gx, channelMagnitude);
                    TensorPrimitives.MultiplyAdd(gy, gy, channelMagnitude, channelMagnitude);
                }
                else
                {
                    TensorPrimitives.Abs(gx, channelMagnitude);
                    TensorPrimitives.Abs(gy, tmp);
                    TensorPrimitives.Add(channelMagnitude, tmp, channelMagnitude);
                }
                int rowStart = y * width;
                for (int x = 0; x < width; x++)
                {
                    // Strictly greater: on ties the earlier channel wins, as OpenCV scans them.
                    if (channel == 0 || channelMagnitude[x] > bestMagnitude[rowStart + x])
                    {
                        bestMagnitude[rowStart + x] = channelMagnitude[x];
                        dx[rowStart + x] = gx[x];
                        dy[rowStart + x] = gy[x];
                    }
                }
            }
        }
        for (int y = 0; y < height; y++)
            bestMagnitude.AsSpan(y * width, width).CopyTo(magnitude.AsSpan((y + 1) * paddedWidth + 1, width));
    }
}
