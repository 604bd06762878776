namespace Diffusion.Core.Benchmarks;

/// <summary>The words the demo model's captions are made of (tools/train-demo-model/scenes.py), for harnesses that caption it.</summary>
internal static class DemoCaptionWords
{
    public static readonly string[] Shapes = ["circle", "square", "triangle"];

    public static readonly string[] Colours = ["red", "green", "blue", "yellow", "purple", "orange"];
}
