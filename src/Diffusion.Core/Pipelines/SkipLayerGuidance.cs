namespace Diffusion.Core.Pipelines;

/// <summary>
/// SD3's skip-layer guidance (diffusers' <c>skip_guidance_layers</c>, Stability AI's recommendation for SD3.5-medium:
/// layers 7, 8, 9): on the steps between <see cref="Start"/> and <see cref="Stop"/> (fractions of the steps, both
/// exclusive, as diffusers compares them) the transformer runs once more on the conditional rows with <see cref="Layers"/>
/// skipped, and the guided prediction gains <c>(conditional − skipped) · Scale</c>. It needs classifier-free guidance and a
/// transformer built from safetensors (exports have no way to skip a block).
/// </summary>
/// <param name="Layers">The joint blocks to skip (0-based).</param>
/// <param name="Scale">diffusers' <c>skip_layer_guidance_scale</c> (default 2.8).</param>
/// <param name="Start">diffusers' <c>skip_layer_guidance_start</c> (default 0.01).</param>
/// <param name="Stop">diffusers' <c>skip_layer_guidance_stop</c> (default 0.2).</param>
public sealed record SkipLayerGuidance(IReadOnlyList<int> Layers, float Scale = 2.8f, double Start = 0.01, double Stop = 0.2)
{
    /// <summary>Stability AI's settings for SD3.5-medium: layers 7, 8 and 9, scale 2.8, steps 1 %–20 %.</summary>
    public static SkipLayerGuidance Sd35Medium { get; } = new([7, 8, 9]);

    /// <summary>Whether step <paramref name="step"/> of <paramref name="steps"/> takes the extra pass: <c>step &gt; steps·Start and step &lt; steps·Stop</c>.</summary>
    public bool Applies(int step, int steps) => step > steps * Start && step < steps * Stop;

    /// <exception cref="InvalidOptionException">No layer, a negative one, a scale that is not finite, or a window outside 0 ≤ Start &lt; Stop ≤ 1.</exception>
    internal void Validate()
    {
        const string Option = nameof(GenerationOptions.SkipLayerGuidance);
        if (Layers is null || Layers.Count == 0)
            throw new InvalidOptionException(Option, "names no layer to skip.");
        if (Layers.Any(layer => layer < 0))
            throw new InvalidOptionException(Option, $"layers must be 0 or more, got {string.Join(", ", Layers)}.");
        if (!float.IsFinite(Scale))
            throw new InvalidOptionException(Option, $"scale must be a finite number, got {Scale}.");
        if (!(Start >= 0 && Start < Stop && Stop <= 1))
            throw new InvalidOptionException(Option, $"needs 0 ≤ Start < Stop ≤ 1, got Start {Start}, Stop {Stop}.");
    }
}
