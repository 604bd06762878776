using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;

namespace Diffusion.CommandLine;

/// <summary>
/// What a generation command line asked for, after parsing and range checks (see <see cref="GenerationCommandLine"/>).
/// A front end also uses it as its defaults: the values here are what an option left out means.
/// </summary>
public sealed record GenerationArguments
{
    /// <summary>The model folder or single-file checkpoint (--model).</summary>
    public string Model { get; init; } = "models/demo-shapes";

    /// <summary>A UNet .onnx used instead of the folder's (--unet).</summary>
    public string? UNet { get; init; }

    /// <summary>A single file's config folder: tokenizers, scheduler, component configs (--config).</summary>
    public string? ConfigDirectory { get; init; }

    /// <summary>A separate VAE file for a single-file checkpoint (--vae).</summary>
    public string? Vae { get; init; }

    /// <summary>The scheduler prediction type overriding the model's (--prediction-type).</summary>
    public string? PredictionType { get; init; }

    /// <summary>The prompt (--prompt).</summary>
    public string Prompt { get; init; } = string.Empty;

    /// <summary>The negative prompt (--negative).</summary>
    public string NegativePrompt { get; init; } = string.Empty;

    /// <summary>A1111 prompt syntax (--weighted).</summary>
    public bool Weighted { get; init; }

    /// <summary>LoRA files and weights (--lora PATH[:W], repeatable).</summary>
    public IReadOnlyList<LoraFile> Loras { get; init; } = [];

    /// <summary>The folder of &lt;lora:name:W&gt; prompt tags (--lora-dir).</summary>
    public string? LoraDirectory { get; init; }

    /// <summary>Denoising steps (--steps).</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Guidance scale (--guidance); <see langword="null"/> for the model family's default.</summary>
    public float? Guidance { get; init; }

    /// <summary>Seed (--seed).</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Width in pixels (--width); null for the model's or the image's.</summary>
    public int? Width { get; init; }

    /// <summary>Height in pixels (--height); null for the model's or the image's.</summary>
    public int? Height { get; init; }

    /// <summary>Images per prompt (--count).</summary>
    public int Count { get; init; } = 1;

    /// <summary>Scheduler name (--scheduler); null for the model's.</summary>
    public string? Scheduler { get; init; }

    /// <summary>Random source (--rng).</summary>
    public RandomSourceKind Random { get; init; } = RandomSourceKind.Torch;

    /// <summary>Execution provider text, as <c>ExecutionProvider.Parse</c> reads it (--provider).</summary>
    public string Provider { get; init; } = "cpu";

    /// <summary>Intra-op threads (--threads); null for ONNX Runtime's default.</summary>
    public int? Threads { get; init; }

    /// <summary>The image file to write (--output); numbered when several images are made.</summary>
    public string Output { get; init; } = "output.png";

    /// <summary>The image to start from (--image).</summary>
    public string? Image { get; init; }

    /// <summary>Img2img/inpainting strength (--strength).</summary>
    public double? Strength { get; init; }

    /// <summary>The inpainting mask (--mask).</summary>
    public string? Mask { get; init; }

    /// <summary>Paste the original pixels back outside the mask (--preserve).</summary>
    public bool PreserveUnmasked { get; init; }

    /// <summary>Feather radius of that paste-back (--mask-blur).</summary>
    public int MaskBlur { get; init; }

    /// <summary>Step caching (--deep-cache), or null for none.</summary>
    public Core.Pipelines.DeepCache? StepCache { get; init; }

    /// <summary>The per-call options these arguments describe, without the scheduler instance and images (a front end adds those).</summary>
    public GenerationOptions ToGenerationOptions() => new()
    {
        Prompt = Prompt,
        NegativePrompt = NegativePrompt,
        PromptSyntax = Weighted ? Core.TextEncoding.PromptSyntax.Weighted : Core.TextEncoding.PromptSyntax.Plain,
        Steps = Steps,
        GuidanceScale = Guidance,
        Seed = Seed,
        Width = Width,
        Height = Height,
        ImagesPerPrompt = Count,
        RandomSource = Random,
        MaskBlur = MaskBlur,
        StepCache = StepCache,
    };
}
