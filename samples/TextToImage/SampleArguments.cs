using System.Globalization;
using Diffusion.Core.Randomness;

namespace Diffusion.Samples.TextToImage;

/// <summary>The sample's command line.</summary>
internal sealed record SampleArguments
{
    public const string Usage = """
        Usage: TextToImage [options]
          --model DIR        diffusers ONNX model folder (default: the built-in demo model, else ../shared/models/tiny-sd)
          --prompt TEXT      prompt (default: "a large red circle on a blue background, center")
          --negative TEXT    negative prompt (default: none)
          --steps N          denoising steps (default 20)
          --guidance G       classifier-free guidance scale (default 7.5)
          --seed N           seed (default 42)
          --width W          width in pixels, multiple of 8 (default: the model's size)
          --height H         height in pixels, multiple of 8 (default: the model's size)
          --count N          images per prompt (default 1)
          --scheduler NAME   scheduler: diffusers class, A1111 or ComfyUI name, e.g. "Euler a", "DPM++ 2M Karras", ddim
          --rng KIND         torch | numpy | fast (default torch)
          --provider P       cpu | cuda[:id] | directml[:adapter] (default cpu)
          --threads N        intra-op threads (default: ONNX Runtime's)
          --output PATH      PNG file to write (default: output.png)
        """;

    public string Model { get; init; } = DefaultModel();
    public string Prompt { get; init; } = "a large red circle on a blue background, center";
    public string NegativePrompt { get; init; } = "";
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
    public bool ShowHelp { get; init; }

    public static SampleArguments Parse(string[] args)
    {
        var result = new SampleArguments();
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            if (name is "-h" or "--help")
                return result with { ShowHelp = true };
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            result = name switch
            {
                "--model" => result with { Model = Value() },
                "--prompt" => result with { Prompt = Value() },
                "--negative" => result with { NegativePrompt = Value() },
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
                _ => throw new ArgumentException($"Unknown option '{name}'."),
            };
        }
        return result;
    }

    private static int ParseInt(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed)
            ? parsed
            : throw new ArgumentException($"{name} expects an integer, got '{value}'.");

    private static RandomSourceKind ParseRandom(string value) => value.ToLowerInvariant() switch
    {
        "torch" => RandomSourceKind.Torch,
        "numpy" => RandomSourceKind.Numpy,
        "fast" => RandomSourceKind.Fast,
        _ => throw new ArgumentException($"--rng expects torch, numpy or fast, got '{value}'."),
    };

    /// <summary>The built-in demo model in the repository, else the shared tiny-sd test model.</summary>
    private static string DefaultModel()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Diffusion.Core.sln")))
            dir = dir.Parent;
        if (dir is null)
            return "models/demo-shapes";
        string demo = Path.Combine(dir.FullName, "models", "demo-shapes");
        if (File.Exists(Path.Combine(demo, "model_index.json")))
            return demo;
        return Path.Combine(dir.Parent?.FullName ?? dir.FullName, "shared", "models", "tiny-sd");
    }
}
