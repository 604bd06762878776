using Diffusion.Core.Imaging;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// Draws ground-truth scenes exactly as <c>tools/train-demo-model/scenes.py</c> does (same coverage rule, same
/// 4×4 supersampling, same rounding), so the analyser can be checked without the model.
/// </summary>
public static class SceneRenderer
{
    private const int Supersample = 4;

    /// <summary>
    /// Renders one 64×64 scene: <paramref name="shape"/> in <paramref name="foreground"/> on
    /// <paramref name="background"/>, bounding box of side <paramref name="extent"/> centred at
    /// (<paramref name="centreX"/>, <paramref name="centreY"/>) in pixel units (pixel i spans [i, i+1]).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown shape or colour name.</exception>
    public static ImageBuffer Render(string shape, string foreground, string background, double centreX, double centreY, double extent)
    {
        NamedColour f = ScenePalette.Find(ScenePalette.Foreground, foreground);
        NamedColour b = ScenePalette.Find(ScenePalette.Background, background);
        double[] coverage = Coverage(shape, centreX, centreY, extent);
        const int size = SceneGeometry.ImageSize;
        byte[] pixels = new byte[size * size * 3];
        for (int i = 0; i < coverage.Length; i++)
        {
            double c = coverage[i];
            pixels[3 * i] = Blend(b.R, f.R, c);
            pixels[3 * i + 1] = Blend(b.G, f.G, c);
            pixels[3 * i + 2] = Blend(b.B, f.B, c);
        }
        return new ImageBuffer(size, size, pixels);
    }

    /// <summary>
    /// Renders the scene a caption describes with its nominal extent and centre, moved by the given jitter
    /// (each in −2..2 in training) and kept one pixel inside the image as scenes.py's <c>scene</c> does.
    /// </summary>
    public static ImageBuffer Render(SceneAttributes scene, int extentJitter = 0, int centreJitterX = 0, int centreJitterY = 0)
    {
        ArgumentNullException.ThrowIfNull(scene);
        string size = scene.Size ?? throw new ArgumentException("The scene has no size.", nameof(scene));
        string position = scene.Position ?? throw new ArgumentException("The scene has no position.", nameof(scene));
        int extent = SceneGeometry.NominalExtent(size) + extentJitter;
        (double cx, double cy) = SceneGeometry.NominalCentre(size, position);
        cx += centreJitterX;
        cy += centreJitterY;
        double low = extent / 2.0 + 1, high = SceneGeometry.ImageSize - extent / 2.0 - 1;
        cx = Math.Min(Math.Max(cx, low), high);
        cy = Math.Min(Math.Max(cy, low), high);
        return Render(scene.Shape ?? throw new ArgumentException("The scene has no shape.", nameof(scene)),
            scene.Foreground ?? throw new ArgumentException("The scene has no foreground.", nameof(scene)),
            scene.Background ?? throw new ArgumentException("The scene has no background.", nameof(scene)),
            cx, cy, extent);
    }

    /// <summary>Fraction of each pixel (row-major, 64×64) the shape covers, from 4×4 sub-samples per pixel.</summary>
    /// <exception cref="ArgumentException">Unknown shape.</exception>
    public static double[] Coverage(string shape, double centreX, double centreY, double extent)
    {
        int kind = shape switch
        {
            "circle" => 0,
            "square" => 1,
            "triangle" => 2,
            _ => throw new ArgumentException($"'{shape}' is not a scene shape.", nameof(shape)),
        };
        const int size = SceneGeometry.ImageSize;
        double half = extent / 2.0;
        double top = centreY - half;
        var coverage = new double[size * size];
        // Every shape lies within |x − cx| ≤ h, |y − cy| ≤ h: sub-samples outside that box (plus a safety margin)
        // cannot be covered, so only the box is tested.
        (int yFirst, int yLast) = SubsampleRange(centreY, half);
        (int xFirst, int xLast) = SubsampleRange(centreX, half);
        for (int sy = yFirst; sy <= yLast; sy++)
        {
            double y = (sy + 0.5) / Supersample;
            for (int sx = xFirst; sx <= xLast; sx++)
            {
                double x = (sx + 0.5) / Supersample;
                bool inside = kind switch
                {
                    0 => (x - centreX) * (x - centreX) + (y - centreY) * (y - centreY) <= half * half,
                    1 => Math.Abs(x - centreX) <= half && Math.Abs(y - centreY) <= half,
                    // Isosceles, apex up: apex at (cx, cy - h), base from (cx - h, cy + h) to (cx + h, cy + h).
                    _ => y >= top && y <= centreY + half && Math.Abs(x - centreX) <= (y - top) / 2.0,
                };
                if (inside)
                    coverage[sy / Supersample * size + sx / Supersample] += 1;
            }
        }
        for (int i = 0; i < coverage.Length; i++)
            coverage[i] /= Supersample * Supersample;
        return coverage;
    }

    private static (int First, int Last) SubsampleRange(double centre, double half)
    {
        const int last = SceneGeometry.ImageSize * Supersample - 1;
        int first = (int)Math.Floor((centre - half) * Supersample - 0.5) - 1;
        int end = (int)Math.Ceiling((centre + half) * Supersample - 0.5) + 1;
        return (Math.Clamp(first, 0, last), Math.Clamp(end, 0, last));
    }

    // numpy: rint(b·(1−c) + f·c), round half to even, then clip to 0..255.
    private static byte Blend(byte background, byte foreground, double coverage) =>
        (byte)Math.Clamp(Math.Round(background * (1.0 - coverage) + foreground * coverage, MidpointRounding.ToEven), 0, 255);
}
