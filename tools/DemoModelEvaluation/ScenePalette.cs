namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// The demo model's colours, in the order of <c>tools/train-demo-model/scenes.py</c> (ties in a nearest-colour
/// search go to the earlier entry, so the order is part of the analyser's rules).
/// </summary>
public static class ScenePalette
{
    /// <summary>Shape colours.</summary>
    public static IReadOnlyList<NamedColour> Foreground { get; } =
    [
        new("red", 230, 30, 30),
        new("green", 30, 170, 50),
        new("blue", 30, 70, 230),
        new("yellow", 240, 230, 40),
        new("purple", 150, 40, 200),
        new("orange", 250, 130, 0),
    ];

    /// <summary>Background colours; "blue" equals the foreground blue, so blue-on-blue is never drawn.</summary>
    public static IReadOnlyList<NamedColour> Background { get; } =
    [
        new("white", 240, 240, 240),
        new("black", 20, 20, 20),
        new("gray", 128, 128, 128),
        new("blue", 30, 70, 230),
    ];

    /// <summary>The entry named <paramref name="name"/> in <paramref name="palette"/>.</summary>
    /// <exception cref="ArgumentException">No entry has that name.</exception>
    public static NamedColour Find(IReadOnlyList<NamedColour> palette, string name)
    {
        foreach (NamedColour colour in palette)
        {
            if (colour.Name == name)
                return colour;
        }
        throw new ArgumentException($"'{name}' is not a palette colour.", nameof(name));
    }

    /// <summary>
    /// The palette entry with the smallest squared RGB distance to (<paramref name="r"/>, <paramref name="g"/>,
    /// <paramref name="b"/>); a tie keeps the earlier entry.
    /// </summary>
    public static NamedColour Nearest(IReadOnlyList<NamedColour> palette, double r, double g, double b)
    {
        NamedColour best = palette[0];
        double bestDistance = double.PositiveInfinity;
        foreach (NamedColour colour in palette)
        {
            double dr = colour.R - r, dg = colour.G - g, db = colour.B - b;
            // Summed left to right as numpy does for three values.
            double distance = dr * dr + dg * dg + db * db;
            if (distance < bestDistance)
            {
                best = colour;
                bestDistance = distance;
            }
        }
        return best;
    }
}
