namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// The demo model's scene layout, as <c>tools/train-demo-model/scenes.py</c> defines it: 64×64 images, one
/// filled shape of a nominal extent placed at one of five nominal centres (each jittered by up to ±2 pixels).
/// </summary>
public static class SceneGeometry
{
    /// <summary>Width and height of every training scene; the demo model is trained at this size only.</summary>
    public const int ImageSize = 64;

    /// <summary>Gap between the image edge and the nominal bounding box of a shape in a corner.</summary>
    public const double CornerMargin = 3;

    /// <summary>Largest jitter (pixels) of a scene's extent and of each coordinate of its centre.</summary>
    public const int Jitter = 2;

    /// <summary>Shape names.</summary>
    public static IReadOnlyList<string> Shapes { get; } = ["circle", "square", "triangle"];

    /// <summary>Size names.</summary>
    public static IReadOnlyList<string> Sizes { get; } = ["small", "large"];

    /// <summary>Position phrases.</summary>
    public static IReadOnlyList<string> Positions { get; } = ["top left", "top right", "bottom left", "bottom right", "center"];

    /// <summary>
    /// (shape, foreground, background) combinations the model never saw in training; every value still occurs in
    /// other combinations, so prompts using them measure compositional generalisation.
    /// </summary>
    public static IReadOnlyList<(string Shape, string Foreground, string Background)> HeldOut { get; } =
    [
        ("circle", "red", "gray"),
        ("square", "green", "black"),
        ("triangle", "yellow", "blue"),
        ("circle", "purple", "white"),
        ("square", "orange", "blue"),
        ("triangle", "blue", "gray"),
    ];

    /// <summary>Nominal bounding-box side of a size: small 22, large 38 pixels.</summary>
    /// <exception cref="ArgumentException">Unknown size.</exception>
    public static int NominalExtent(string size) => size switch
    {
        "small" => 22,
        "large" => 38,
        _ => throw new ArgumentException($"'{size}' is not a scene size.", nameof(size)),
    };

    /// <summary>
    /// Centre (x, y) of the nominal bounding box, in pixel units where pixel i spans [i, i+1].
    /// </summary>
    /// <exception cref="ArgumentException">Unknown size or position.</exception>
    public static (double X, double Y) NominalCentre(string size, string position)
    {
        double extent = NominalExtent(size);
        double near = CornerMargin + extent / 2.0;
        double far = ImageSize - CornerMargin - extent / 2.0;
        double middle = ImageSize / 2.0;
        return position switch
        {
            "center" => (middle, middle),
            "top left" => (near, near),
            "top right" => (far, near),
            "bottom left" => (near, far),
            "bottom right" => (far, far),
            _ => throw new ArgumentException($"'{position}' is not a scene position.", nameof(position)),
        };
    }

    /// <summary>True when (shape, foreground, background) is one of the <see cref="HeldOut"/> combinations.</summary>
    public static bool IsHeldOut(string shape, string foreground, string background)
    {
        foreach (var combination in HeldOut)
        {
            if (combination.Shape == shape && combination.Foreground == foreground && combination.Background == background)
                return true;
        }
        return false;
    }
}
