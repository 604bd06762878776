using Diffusion.Core.Imaging;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// Reads the attributes of a demo-model scene (one filled shape on a flat background) back from its pixels.
/// A port of <c>tools/train-demo-model/analyser.py</c> following its rules in <c>ANALYSER.md</c> exactly: all
/// distances Euclidean in RGB (0–255) in double precision, medians as numpy computes them.
/// </summary>
/// <remarks>
/// The rules are written for 64×64 scenes: the background is read from the border, the position from the
/// bounding-box centre relative to the image centre, but the thresholds (20 pixels, extent 30, centre ±5) are in
/// 64×64 pixels. Scale larger images down first (<see cref="Downscale"/>).
/// </remarks>
public static class SceneAnalyser
{
    /// <summary>A pixel is foreground when its RGB distance from the measured background exceeds this.</summary>
    public const double ForegroundDistance = 60.0;

    /// <summary>Rows/columns with fewer foreground pixels than this are ignored when finding the bounding box.</summary>
    public const int MinLinePixels = 2;

    /// <summary>Fewer foreground pixels than this: no shape found.</summary>
    public const int MinShapePixels = 20;

    /// <summary>Fill ratio at or above which the shape is a square (ideal 1).</summary>
    public const double SquareMinFill = 0.89;

    /// <summary>Fill ratio at or above which a non-square is a circle (ideal π/4); below it, a triangle (ideal 0.5).</summary>
    public const double CircleMinFill = 0.64;

    /// <summary>Bounding-box side (max of width and height) at or above which the shape is large.</summary>
    public const int LargeMinExtent = 30;

    /// <summary>Box centre within this many pixels of the image centre on both axes: "center".</summary>
    public const double CenterMaxOffset = 5.0;

    /// <summary>Analyses one RGB image (normally 64×64).</summary>
    public static SceneReading Analyse(ImageBuffer image)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width, h = image.Height;
        byte[] p = image.Pixels;
        if (w < 3 || h < 3)
            throw new ArgumentException($"The analyser needs an image of at least 3x3 pixels, got {w}x{h}.", nameof(image));

        // 1. Background: per-channel median of the border (top row, bottom row, side columns without corners).
        int borderCount = 2 * w + 2 * (h - 2);
        var border = new double[3][];
        for (int c = 0; c < 3; c++)
            border[c] = new double[borderCount];
        int k = 0;
        for (int x = 0; x < w; x++)
            AddPixel(border, k++, p, (0 * w + x) * 3);
        for (int x = 0; x < w; x++)
            AddPixel(border, k++, p, ((h - 1) * w + x) * 3);
        for (int y = 1; y < h - 1; y++)
            AddPixel(border, k++, p, (y * w) * 3);
        for (int y = 1; y < h - 1; y++)
            AddPixel(border, k++, p, (y * w + w - 1) * 3);
        double bgR = Median(border[0]), bgG = Median(border[1]), bgB = Median(border[2]);
        string background = ScenePalette.Nearest(ScenePalette.Background, bgR, bgG, bgB).Name;

        // 2. Foreground mask: farther than the threshold from the measured (not the palette) background.
        var mask = new bool[w * h];
        int count = 0;
        for (int i = 0; i < w * h; i++)
        {
            double dr = p[3 * i] - bgR, dg = p[3 * i + 1] - bgG, db = p[3 * i + 2] - bgB;
            if (Math.Sqrt(dr * dr + dg * dg + db * db) > ForegroundDistance)
            {
                mask[i] = true;
                count++;
            }
        }
        var measured = (bgR, bgG, bgB);
        // 3. Too few pixels: no shape.
        if (count < MinShapePixels)
            return new SceneReading(new SceneAttributes(null, background, null, null, null), measured, count, null);

        // 4. Foreground colour: per-channel median of the foreground pixels, nearest palette entry.
        var fore = new double[3][];
        for (int c = 0; c < 3; c++)
            fore[c] = new double[count];
        k = 0;
        for (int i = 0; i < w * h; i++)
        {
            if (mask[i])
                AddPixel(fore, k++, p, 3 * i);
        }
        string foreground = ScenePalette.Nearest(ScenePalette.Foreground, Median(fore[0]), Median(fore[1]), Median(fore[2])).Name;

        // 5. Bounding box over rows/columns holding at least two foreground pixels.
        var rowCounts = new int[h];
        var columnCounts = new int[w];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                if (mask[y * w + x])
                {
                    rowCounts[y]++;
                    columnCounts[x]++;
                }
            }
        }
        int y0 = First(rowCounts), y1 = Last(rowCounts), x0 = First(columnCounts), x1 = Last(columnCounts);
        if (y0 < 0 || x0 < 0)
            return new SceneReading(new SceneAttributes(foreground, background, null, null, null), measured, count, null);
        int bh = y1 - y0 + 1, bw = x1 - x0 + 1;

        // 6. Shape from the fill ratio of the box.
        int inside = 0;
        for (int y = y0; y <= y1; y++)
        {
            for (int x = x0; x <= x1; x++)
            {
                if (mask[y * w + x])
                    inside++;
            }
        }
        double fill = inside / (double)(bh * bw);
        string shape = fill >= SquareMinFill ? "square" : fill >= CircleMinFill ? "circle" : "triangle";

        // 7. Size from the longer box side.
        string size = Math.Max(bh, bw) >= LargeMinExtent ? "large" : "small";

        // 8. Position from the box centre (pixel i spans [i, i+1]).
        double cx = (x0 + x1 + 1) / 2.0, cy = (y0 + y1 + 1) / 2.0;
        double dx = cx - w / 2.0, dy = cy - h / 2.0;
        string position = Math.Abs(dx) <= CenterMaxOffset && Math.Abs(dy) <= CenterMaxOffset
            ? "center"
            : (dy < 0 ? "top" : "bottom") + " " + (dx < 0 ? "left" : "right");
        return new SceneReading(new SceneAttributes(foreground, background, shape, size, position), measured, count, fill);
    }

    /// <summary>
    /// Box-averages an image whose sides are whole multiples of 64 down to 64×64 (mean of each block, rounded half
    /// to even), so images generated at other sizes can be read with the 64×64 rules.
    /// </summary>
    /// <exception cref="ArgumentException">A side is not a positive multiple of 64, or the image is not square.</exception>
    public static ImageBuffer Downscale(ImageBuffer image)
    {
        ArgumentNullException.ThrowIfNull(image);
        const int size = SceneGeometry.ImageSize;
        if (image.Width != image.Height || image.Width % size != 0)
            throw new ArgumentException($"Only square images with a side that is a multiple of {size} can be scaled down, got {image.Width}x{image.Height}.", nameof(image));
        int factor = image.Width / size;
        if (factor == 1)
            return image;
        var pixels = new byte[size * size * 3];
        for (int y = 0; y < size; y++)
        {
            for (int x = 0; x < size; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    int sum = 0;
                    for (int dy = 0; dy < factor; dy++)
                    {
                        for (int dx = 0; dx < factor; dx++)
                            sum += image.Pixels[((y * factor + dy) * image.Width + x * factor + dx) * 3 + c];
                    }
                    pixels[(y * size + x) * 3 + c] = (byte)Math.Round(sum / (double)(factor * factor), MidpointRounding.ToEven);
                }
            }
        }
        return new ImageBuffer(size, size, pixels);
    }

    private static void AddPixel(double[][] channels, int index, byte[] pixels, int offset)
    {
        channels[0][index] = pixels[offset];
        channels[1][index] = pixels[offset + 1];
        channels[2][index] = pixels[offset + 2];
    }

    // numpy's median: the middle value, or the mean of the two middle values for an even count.
    private static double Median(double[] values)
    {
        Array.Sort(values);
        int n = values.Length;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
    }

    private static int First(int[] lineCounts)
    {
        for (int i = 0; i < lineCounts.Length; i++)
        {
            if (lineCounts[i] >= MinLinePixels)
                return i;
        }
        return -1;
    }

    private static int Last(int[] lineCounts)
    {
        for (int i = lineCounts.Length - 1; i >= 0; i--)
        {
            if (lineCounts[i] >= MinLinePixels)
                return i;
        }
        return -1;
    }
}
