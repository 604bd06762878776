namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>What <see cref="SceneAnalyser"/> read from one image.</summary>
/// <param name="Attributes">The attribute values found (null where none was found).</param>
/// <param name="BackgroundRgb">The measured background colour: per-channel median of the border pixels.</param>
/// <param name="ForegroundPixels">Number of pixels farther than the threshold from the measured background.</param>
/// <param name="Fill">Foreground pixels inside the bounding box / box area; null when no box was found.</param>
public sealed record SceneReading(SceneAttributes Attributes, (double R, double G, double B) BackgroundRgb, int ForegroundPixels, double? Fill);
