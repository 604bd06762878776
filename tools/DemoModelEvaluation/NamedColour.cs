namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>A palette entry: a colour name as captions spell it and its sRGB value (0–255).</summary>
/// <param name="Name">The caption word.</param>
/// <param name="R">Red.</param>
/// <param name="G">Green.</param>
/// <param name="B">Blue.</param>
public readonly record struct NamedColour(string Name, byte R, byte G, byte B);
