using Diffusion.Core.Randomness;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>How each evaluation image is generated.</summary>
public sealed record EvaluationSettings
{
    /// <summary>Denoising steps (the trainer's own evaluation uses 20).</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Classifier-free guidance scale (the trainer's own evaluation uses 6).</summary>
    public float GuidanceScale { get; init; } = 6f;

    /// <summary>Width and height in pixels; the demo model is trained at 64 only.</summary>
    public int ImageSize { get; init; } = SceneGeometry.ImageSize;

    /// <summary>
    /// The noise generator; torch (the default) draws the same initial latents as the trainer's
    /// <c>torch.randn((4, 8, 8), generator=torch.Generator().manual_seed(seed))</c>.
    /// </summary>
    public RandomSourceKind RandomSource { get; init; } = RandomSourceKind.Torch;

    /// <summary>Step caching (null: every step runs the whole UNet).</summary>
    public Diffusion.Core.Pipelines.DeepCache? StepCache { get; init; }
}
