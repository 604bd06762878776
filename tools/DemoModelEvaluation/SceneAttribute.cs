namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>The five things a demo-model caption states and the analyser reads back from pixels.</summary>
public enum SceneAttribute
{
    /// <summary>Colour of the shape (red, green, blue, yellow, purple, orange).</summary>
    Foreground,

    /// <summary>Colour of the background (white, black, gray, blue).</summary>
    Background,

    /// <summary>circle, square or triangle.</summary>
    Shape,

    /// <summary>small or large.</summary>
    Size,

    /// <summary>top left, top right, bottom left, bottom right or center.</summary>
    Position,
}
