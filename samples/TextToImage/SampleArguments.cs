using System.Globalization;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;

namespace Diffusion.Samples;

/// <summary>The samples' command line (TextToImage, ImageToImage and Inpainting share it; each sets its own defaults).</summary>
internal sealed record SampleArguments
{
    public const string CommonUsage = """
          --model DIR        diffusers ONNX model folder (default: the built-in demo model, else ../shared/models/tiny-sd)
          --unet FILE        UNet .onnx to use instead of the folder's (e.g. an fp16 or int64-timestep export)
          --prompt TEXT      prompt
          --negative TEXT    negative prompt (default: none)
          --weighted         read prompts with A1111 syntax: (word:1.3), [word], BREAK, any length (default: as diffusers)
          --lora PATH:W      merge a LoRA .safetensors with multiplier W (repeatable; W defaults to 1)
          --lora-dir DIR     folder for <lora:name:W> tags in the prompt
          --steps N          denoising steps (default 20)
          --guidance G       classifier-free guidance scale (default 7.5)
          --seed N           seed (default 42)
          --width W          width in pixels, multiple of 8 (default: the model's size, or the image's)
          --height H         height in pixels, multiple of 8
          --count N          images per prompt (default 1)
          --scheduler NAME   scheduler: diffusers class, A1111 or ComfyUI name, e.g. "Euler a", "DPM++ 2M Karras", ddim
          --rng KIND         torch | numpy | fast (default torch)
          --provider P       cpu | cuda[:id] | directml[:adapter] (default cpu)
          --threads N        intra-op threads (default: ONNX Runtime's)
          --output PATH      PNG file to write (default: output.png)
        """;

    public const string ImageUsage = """
          --image PATH       image to start from
          --strength S       0..1: how much to repaint (steps run = floor(steps·S))
        """;

    public const string MaskUsage = """
          --mask PATH        mask, white = repaint (default: a centred rectangle half the image's size)
          --preserve         paste the original pixels back outside the mask
          --mask-blur N      feather radius in pixels of that paste-back (default 0)
        """;

    public string Model { get; init; } = DefaultModel();
    public string? UNet { get; init; }
    public string Prompt { get; init; } = "a large red circle on a blue background, center";
    public string NegativePrompt { get; init; } = "";
    public bool Weighted { get; init; }
    public IReadOnlyList<LoraFile> Loras { get; init; } = [];
    public string? LoraDirectory { get; init; }
    public int Steps { get; init; } = 20;
    public float Guidance { get; init; } = 7.5f;
    public ulong Seed { get; init; } = 42;
    public int? Width { get; init; }
    public int? Height { get; init; }
    public int Count { get; init; } = 1;
    public string? Scheduler { get; init; }
    public RandomSourceKind Random { get; init; } = RandomSourceKind.Torch;
    public string Provider { get; init; } = "cpu";
    public int? Threads { get; init; }
    public string Output { get; init; } = "output.png";
    public string? Image { get; init; }
    public double? Strength { get; init; }
    public string? Mask { get; init; }
    public bool PreserveUnmasked { get; init; }
    public int MaskBlur { get; init; }
    public bool ShowHelp { get; init; }

    /// <summary>Parses <paramref name="args"/> on top of <paramref name="defaults"/>.</summary>
    public static SampleArguments Parse(string[] args, SampleArguments? defaults = null)
    {
        var result = defaults ?? new SampleArguments();
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            if (name is "-h" or "--help")
                return result with { ShowHelp = true };
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            result = name switch
            {
                "--model" => result with { Model = Value() },
                "--unet" => result with { UNet = Value() },
                "--prompt" => result with { Prompt = Value() },
                "--negative" => result with { NegativePrompt = Value() },
                "--weighted" => result with { Weighted = true },
                "--lora" => result with { Loras = [.. result.Loras, ParseLora(Value())] },
                "--lora-dir" => result with { LoraDirectory = Value() },
                "--steps" => result with { Steps = ParseInt(name, Value()) },
                "--guidance" => result with { Guidance = float.Parse(Value(), CultureInfo.InvariantCulture) },
                "--seed" => result with { Seed = ulong.Parse(Value(), CultureInfo.InvariantCulture) },
                "--width" => result with { Width = ParseInt(name, Value()) },
                "--height" => result with { Height = ParseInt(name, Value()) },
                "--count" => result with { Count = ParseInt(name, Value()) },
                "--scheduler" => result with { Scheduler = Value() },
                "--rng" => result with { Random = ParseRandom(Value()) },
                "--provider" => result with { Provider = Value() },
                "--threads" => result with { Threads = ParseInt(name, Value()) },
                "--output" => result with { Output = Value() },
                "--image" => result with { Image = Value() },
                "--strength" => result with { Strength = ParseDouble(name, Value()) },
                "--mask" => result with { Mask = Value() },
                "--preserve" => result with { PreserveUnmasked = true },
                "--mask-blur" => result with { MaskBlur = ParseInt(name, Value()) },
                _ => throw new ArgumentException($"Unknown option '{name}'."),
            };
        }
        return result;
    }

    /// <summary><c>path:weight</c>, split at the last colon when what follows is a number (so <c>C:\x.safetensors</c> works).</summary>
    private static LoraFile ParseLora(string value)
    {
        int colon = value.LastIndexOf(':');
        if (colon > 1 && float.TryParse(value.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out float weight))
            return new LoraFile(value[..colon], weight);
        return new LoraFile(value, 1f);
    }

    private static int ParseInt(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed)
            ? parsed
            : throw new ArgumentException($"{name} expects an integer, got '{value}'.");

    private static double ParseDouble(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed)
            ? parsed
            : throw new ArgumentException($"{name} expects a number, got '{value}'.");

    private static RandomSourceKind ParseRandom(string value) => value.ToLowerInvariant() switch
    {
        "torch" => RandomSourceKind.Torch,
        "numpy" => RandomSourceKind.Numpy,
        "fast" => RandomSourceKind.Fast,
        _ => throw new ArgumentException($"--rng expects torch, numpy or fast, got '{value}'."),
    };

    /// <summary>The repository root (the folder with Diffusion.Core.sln), or null.</summary>
    public static DirectoryInfo? RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Diffusion.Core.sln")))
            dir = dir.Parent;
        return dir;
    }

    /// <summary>A file of ../shared next to the repository (e.g. <c>images/astronaut.png</c>).</summary>
    public static string SharedFile(string relative)
    {
        DirectoryInfo? root = RepositoryRoot();
        return Path.Combine(root?.Parent?.FullName ?? ".", "shared", relative);
    }

    /// <summary>The built-in demo model in the repository, else the shared tiny-sd test model.</summary>
    private static string DefaultModel()
    {
        DirectoryInfo? dir = RepositoryRoot();
        if (dir is null)
            return "models/demo-shapes";
        string demo = Path.Combine(dir.FullName, "models", "demo-shapes");
        if (File.Exists(Path.Combine(demo, "model_index.json")))
            return demo;
        return Path.Combine(dir.Parent?.FullName ?? dir.FullName, "shared", "models", "tiny-sd");
    }
}
