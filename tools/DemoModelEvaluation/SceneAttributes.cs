namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>
/// The attribute values of one scene, spelled as in the captions (<c>"red"</c>, <c>"top left"</c>, …).
/// A null value means the analyser found none, which never equals a caption's value.
/// </summary>
/// <param name="Foreground">Shape colour.</param>
/// <param name="Background">Background colour.</param>
/// <param name="Shape">Shape name.</param>
/// <param name="Size">small or large.</param>
/// <param name="Position">Position phrase.</param>
public sealed record SceneAttributes(string? Foreground, string? Background, string? Shape, string? Size, string? Position)
{
    /// <summary>Every attribute, in the order reports list them.</summary>
    public static IReadOnlyList<SceneAttribute> All { get; } =
        [SceneAttribute.Foreground, SceneAttribute.Background, SceneAttribute.Shape, SceneAttribute.Size, SceneAttribute.Position];

    /// <summary>The value of <paramref name="attribute"/>.</summary>
    public string? Get(SceneAttribute attribute) => attribute switch
    {
        SceneAttribute.Foreground => Foreground,
        SceneAttribute.Background => Background,
        SceneAttribute.Shape => Shape,
        SceneAttribute.Size => Size,
        SceneAttribute.Position => Position,
        _ => throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "Unknown scene attribute."),
    };

    /// <summary>The caption the demo model was trained with for these values (scenes.py's <c>caption</c>).</summary>
    public string ToCaption() => $"a {Size} {Foreground} {Shape} on a {Background} background, {Position}";

    /// <summary>Values joined for tables, with <c>none</c> for a missing one.</summary>
    public override string ToString() =>
        $"{Size ?? "none"} {Foreground ?? "none"} {Shape ?? "none"} on {Background ?? "none"}, {Position ?? "none"}";
}
