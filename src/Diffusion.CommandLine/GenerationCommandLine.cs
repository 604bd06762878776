using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;

namespace Diffusion.CommandLine;

/// <summary>
/// The options of a generation command, defined once for every front end: names, help text, defaults (from a
/// <see cref="GenerationArguments"/>), parsing and the bounds <see cref="GenerationOptions.Validate"/> and
/// <see cref="SessionSettings.Validate"/> apply, so a bad value is refused while parsing, naming the option.
/// </summary>
public sealed class GenerationCommandLine
{
    private readonly List<Option> _options = [];

    /// <summary>Defines the options with <paramref name="defaults"/> as what a left-out option means.</summary>
    /// <param name="defaults">The front end's defaults.</param>
    /// <param name="imageInputs">Add --image and --strength (image-to-image, inpainting).</param>
    /// <param name="maskInputs">Add --mask, --preserve and --mask-blur (inpainting).</param>
    public GenerationCommandLine(GenerationArguments defaults, bool imageInputs = false, bool maskInputs = false)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        Defaults = defaults;
        Model = Add(new Option<string>("--model")
        {
            Description = "diffusers model folder (ONNX or safetensors), or a single-file .safetensors checkpoint (SD 1.x/2.x/XL)",
            DefaultValueFactory = _ => defaults.Model,
        });
        UNet = Add(new Option<string?>("--unet") { Description = "UNet .onnx to use instead of the folder's (e.g. an fp16 or int64-timestep export)" });
        Config = Add(new Option<string?>("--config")
        {
            Description = "for a single-file checkpoint: a diffusers-layout folder with tokenizer/ (and tokenizer_2/), optionally scheduler/ and component configs",
        });
        Vae = Add(new Option<string?>("--vae") { Description = "for a single-file checkpoint: a separate VAE .safetensors replacing the embedded one" });
        PredictionType = Add(new Option<string?>("--prediction-type")
        {
            Description = "the scheduler's prediction type, overriding the model's: epsilon, v_prediction or sample (SD 2.x single files default to v_prediction)",
        });
        PredictionType.AcceptOnlyFromAmong("epsilon", "v_prediction", "sample");
        Prompt = Add(new Option<string>("--prompt") { Description = "prompt", DefaultValueFactory = _ => defaults.Prompt });
        Negative = Add(new Option<string>("--negative") { Description = "negative prompt", DefaultValueFactory = _ => defaults.NegativePrompt });
        Weighted = Add(new Option<bool>("--weighted") { Description = "read prompts with A1111 syntax: (word:1.3), [word], BREAK, any length" });
        Lora = Add(new Option<LoraFile[]>("--lora")
        {
            Description = "merge a LoRA .safetensors, PATH or PATH:WEIGHT (repeatable; weight 1 when left out)",
            CustomParser = ParseLoras,
            AllowMultipleArgumentsPerToken = false,
        });
        LoraDirectory = Add(new Option<string?>("--lora-dir") { Description = "folder for <lora:name:W> tags in the prompt" });
        Steps = Add(new Option<int>("--steps")
        {
            Description = "denoising steps (1 to 1000)",
            DefaultValueFactory = _ => defaults.Steps,
            CustomParser = BoundedParsers.Int("--steps", 1, 1000),
        });
        Guidance = Add(new Option<float?>("--guidance")
        {
            Description = $"classifier-free guidance scale (0 to {GenerationOptions.MaxGuidanceScale}; default: the model family's, 7.5 for SD, 5 for SDXL)",
            DefaultValueFactory = _ => defaults.Guidance,
            CustomParser = BoundedParsers.OptionalFloat("--guidance", 0f, GenerationOptions.MaxGuidanceScale),
        });
        Seed = Add(new Option<ulong>("--seed")
        {
            Description = "seed (a whole number ≥ 0)",
            DefaultValueFactory = _ => defaults.Seed,
            CustomParser = BoundedParsers.UInt64("--seed"),
        });
        Width = Add(SizeOption("--width", defaults.Width));
        Height = Add(SizeOption("--height", defaults.Height));
        Count = Add(new Option<int>("--count")
        {
            Description = "images per prompt (1 to 64)",
            DefaultValueFactory = _ => defaults.Count,
            CustomParser = BoundedParsers.Int("--count", 1, 64),
        });
        Scheduler = Add(new Option<string?>("--scheduler")
        {
            Description = "scheduler: a diffusers class, A1111 or ComfyUI name, e.g. \"Euler a\", \"DPM++ 2M Karras\", ddim",
            DefaultValueFactory = _ => defaults.Scheduler,
        });
        Random = Add(new Option<RandomSourceKind>("--rng")
        {
            Description = "random source: torch (diffusers' PyTorch pipelines), numpy (its ONNX pipelines) or fast",
            DefaultValueFactory = _ => defaults.Random,
        });
        Provider = Add(new Option<string>("--provider")
        {
            Description = "execution provider: cpu, cuda[:id], directml[:adapter], ...",
            DefaultValueFactory = _ => defaults.Provider,
        });
        Threads = Add(new Option<int?>("--threads")
        {
            Description = $"intra-op threads (1 to {SessionSettings.MaxThreads}; default: ONNX Runtime's)",
            CustomParser = BoundedParsers.OptionalInt("--threads", 1, SessionSettings.MaxThreads),
        });
        StepCache = Add(new Option<DeepCache?>("--deep-cache")
        {
            Description = "step caching for UNet models (DeepCache): the whole UNet every N steps, the steps between reuse its deep features; N or N:POINT (default off)",
            CustomParser = BoundedParsers.StepCache,
        });
        Output = Add(new Option<string>("--output")
        {
            Description = "image file to write (.png, .jpg, .webp); numbered when --count > 1",
            DefaultValueFactory = _ => defaults.Output,
        });
        if (imageInputs)
        {
            Image = Add(new Option<string?>("--image") { Description = "image to start from", DefaultValueFactory = _ => defaults.Image });
            Strength = Add(new Option<double?>("--strength")
            {
                Description = "how much to repaint, 0 to 1 (steps run = floor(steps · strength))",
                DefaultValueFactory = _ => defaults.Strength,
                CustomParser = BoundedParsers.OptionalDouble("--strength", 0, 1),
            });
        }
        if (maskInputs)
        {
            Mask = Add(new Option<string?>("--mask") { Description = "mask image, white = repaint", DefaultValueFactory = _ => defaults.Mask });
            Preserve = Add(new Option<bool>("--preserve") { Description = "paste the original pixels back outside the mask" });
            MaskBlur = Add(new Option<int>("--mask-blur")
            {
                Description = "feather radius in pixels of that paste-back (0 to 256)",
                DefaultValueFactory = _ => defaults.MaskBlur,
                CustomParser = BoundedParsers.Int("--mask-blur", 0, 256),
            });
        }
    }

    /// <summary>The defaults the options were defined with.</summary>
    public GenerationArguments Defaults { get; }

    /// <summary>Every option defined, in help order.</summary>
    public IReadOnlyList<Option> Options => _options;

#pragma warning disable CS1591 // the options are documented by their Description
    public Option<string> Model { get; }
    public Option<string?> UNet { get; }
    public Option<string?> Config { get; }
    public Option<string?> Vae { get; }
    public Option<string?> PredictionType { get; }
    public Option<string> Prompt { get; }
    public Option<string> Negative { get; }
    public Option<bool> Weighted { get; }
    public Option<LoraFile[]> Lora { get; }
    public Option<string?> LoraDirectory { get; }
    public Option<int> Steps { get; }
    public Option<float?> Guidance { get; }
    public Option<ulong> Seed { get; }
    public Option<int?> Width { get; }
    public Option<int?> Height { get; }
    public Option<int> Count { get; }
    public Option<string?> Scheduler { get; }
    public Option<RandomSourceKind> Random { get; }
    public Option<string> Provider { get; }
    public Option<int?> Threads { get; }
    public Option<DeepCache?> StepCache { get; }
    public Option<string> Output { get; }
    public Option<string?>? Image { get; }
    public Option<double?>? Strength { get; }
    public Option<string?>? Mask { get; }
    public Option<bool>? Preserve { get; }
    public Option<int>? MaskBlur { get; }
#pragma warning restore CS1591

    /// <summary>Adds every option to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (Option option in _options)
            command.Options.Add(option);
    }

    /// <summary>
    /// The command-line option that sets a library setting or option an <see cref="Core.InvalidOptionException"/> names
    /// (<c>ConfigDirectory</c> → <c>--config</c>), so a front end can say what to change; null when none does.
    /// </summary>
    public static string? CommandLineName(string optionName) => optionName switch
    {
        "ConfigDirectory" => "--config",
        "VaePath" => "--vae",
        "PredictionType" => "--prediction-type",
        "UNetModelPath" => "--unet",
        "Loras" => "--lora",
        "LoraDirectory" => "--lora-dir",
        "GuidanceScale" => "--guidance",
        "Steps" => "--steps",
        "Strength" => "--strength",
        "Width" => "--width",
        "Height" => "--height",
        "InitImage" => "--image",
        "Mask" => "--mask",
        "MaskBlur" => "--mask-blur",
        "StepCache" => "--deep-cache",
        _ => null,
    };

    /// <summary>The arguments a parse without errors holds.</summary>
    public GenerationArguments Bind(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Errors.Count > 0)
            throw new InvalidOperationException("The command line has errors; report ParseResult.Errors instead of binding.");
        return Defaults with
        {
            Model = result.GetValue(Model)!,
            UNet = result.GetValue(UNet),
            ConfigDirectory = result.GetValue(Config),
            Vae = result.GetValue(Vae),
            PredictionType = result.GetValue(PredictionType),
            Prompt = result.GetValue(Prompt) ?? string.Empty,
            NegativePrompt = result.GetValue(Negative) ?? string.Empty,
            Weighted = result.GetValue(Weighted),
            Loras = result.GetValue(Lora) ?? [],
            LoraDirectory = result.GetValue(LoraDirectory),
            Steps = result.GetValue(Steps),
            Guidance = result.GetValue(Guidance),
            Seed = result.GetValue(Seed),
            Width = result.GetValue(Width),
            Height = result.GetValue(Height),
            Count = result.GetValue(Count),
            Scheduler = result.GetValue(Scheduler),
            Random = result.GetValue(Random),
            Provider = result.GetValue(Provider) ?? "cpu",
            Threads = result.GetValue(Threads),
            StepCache = result.GetValue(StepCache),
            Output = result.GetValue(Output) ?? Defaults.Output,
            Image = Image is null ? Defaults.Image : result.GetValue(Image),
            Strength = Strength is null ? Defaults.Strength : result.GetValue(Strength),
            Mask = Mask is null ? Defaults.Mask : result.GetValue(Mask),
            PreserveUnmasked = Preserve is not null && result.GetValue(Preserve),
            MaskBlur = MaskBlur is null ? Defaults.MaskBlur : result.GetValue(MaskBlur),
        };
    }

    private T Add<T>(T option) where T : Option
    {
        _options.Add(option);
        return option;
    }

    private static Option<int?> SizeOption(string name, int? fallback) => new(name)
    {
        Description = "pixels, a multiple of 8 up to 8192 (default: the model's size, or the image's)",
        DefaultValueFactory = _ => fallback,
        CustomParser = BoundedParsers.OptionalInt(name, 8, 8192, multipleOf: 8),
    };

    /// <summary><c>path[:weight]</c>, split at the last colon when a number follows (so <c>C:\x.safetensors</c> works).</summary>
    private static LoraFile[] ParseLoras(ArgumentResult result)
    {
        var files = new List<LoraFile>();
        foreach (Token token in result.Tokens)
        {
            string value = token.Value;
            int colon = value.LastIndexOf(':');
            if (colon > 1 && float.TryParse(value.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out float weight))
            {
                if (!float.IsFinite(weight))
                {
                    result.AddError($"--lora {value}: the weight must be a finite number.");
                    continue;
                }
                files.Add(new LoraFile(value[..colon], weight));
            }
            else
            {
                files.Add(new LoraFile(value, 1f));
            }
        }
        return [.. files];
    }
}
