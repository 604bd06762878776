using System.Globalization;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>Command-line options of the evaluation tool.</summary>
public sealed record EvaluationArguments
{
    /// <summary>Usage text.</summary>
    public const string Usage =
        """
        Usage: dotnet run -c Release --project tools/DemoModelEvaluation -- [options]
          --model DIR          demo model folder (default models/demo-shapes)
          --prompts N          number of prompts, spread evenly over seen and held-out (default: all)
          --prompts-file PATH  eval_prompts.json (default: the model folder's, else the copy next to this tool)
          --schedulers LIST    comma-separated scheduler names (default "DDIM,Euler,DPM++ 2M")
          --steps N            denoising steps (default 20)
          --guidance G         guidance scale (default 6)
          --other-guidance L   comma-separated extra guidance scales to run every scheduler at (default: none)
          --other-size S       also run the first scheduler at SxS, S a multiple of 64 (default 128; 0: skip)
          --no-controls        skip the deliberately wrong pipelines
          --samples DIR        write every generated image as PNG into DIR
          --report PATH        write the Markdown report there (it is always printed)
          --quantization Q     none, int8 or int4: the text encoder's and UNet's linear layers quantised at load (default none)
          --quantize-convolutions  the UNet's convolutions held as int8 per output channel too
          --quantize-activations   the int8 layers also compute in int8 (activations quantised at run time)
          --deep-cache N[:P]   step caching (DeepCache): the whole UNet every N steps, cut at point P (default 0); default off
        """;

    /// <summary>Model folder.</summary>
    public string Model { get; init; } = DemoModel.DefaultFolder;

    /// <summary>Number of prompts (null: all).</summary>
    public int? PromptCount { get; init; }

    /// <summary>Explicit prompts file.</summary>
    public string? PromptsFile { get; init; }

    /// <summary>Scheduler names (SchedulerCatalog names).</summary>
    public IReadOnlyList<string> Schedulers { get; init; } = ["DDIM", "Euler", "DPM++ 2M"];

    /// <summary>Denoising steps.</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Guidance scale.</summary>
    public float Guidance { get; init; } = 6f;

    /// <summary>Extra guidance scales at which every scheduler runs again (empty: none).</summary>
    public IReadOnlyList<float> OtherGuidance { get; init; } = [];

    /// <summary>Extra size to run once (0: none).</summary>
    public int OtherSize { get; init; } = 128;

    /// <summary>Whether to run the wrong-pipeline controls.</summary>
    public bool Controls { get; init; } = true;

    /// <summary>Folder for PNGs of every image.</summary>
    public string? SamplesDirectory { get; init; }

    /// <summary>Report path.</summary>
    public string? ReportPath { get; init; }

    /// <summary>Weight quantisation of the text encoder and UNet.</summary>
    public Diffusion.Core.Execution.WeightQuantization Quantization { get; init; } = Diffusion.Core.Execution.WeightQuantization.None;

    /// <summary>Whether the text encoder's and UNet's convolutions are held as int8 too.</summary>
    public bool QuantizeConvolutions { get; init; }

    /// <summary>Whether the int8 layers compute in int8.</summary>
    public bool QuantizeActivations { get; init; }

    /// <summary>Step caching for every image (null: off).</summary>
    public Diffusion.Core.Pipelines.DeepCache? StepCache { get; init; }

    /// <summary>True when --help was given.</summary>
    public bool ShowHelp { get; init; }

    /// <summary>Parses <paramref name="args"/>.</summary>
    /// <exception cref="ArgumentException">An unknown option or a bad value (the message names it).</exception>
    public static EvaluationArguments Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var result = new EvaluationArguments();
        for (int i = 0; i < args.Count; i++)
        {
            string option = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{option} needs a value.");
            result = option switch
            {
                "--model" => result with { Model = Value() },
                "--prompts" => result with { PromptCount = PositiveInt(option, Value()) },
                "--prompts-file" => result with { PromptsFile = Value() },
                "--schedulers" => result with { Schedulers = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "--steps" => result with { Steps = PositiveInt(option, Value()) },
                "--guidance" => result with { Guidance = GuidanceValue(option, Value()) },
                "--other-guidance" => result with { OtherGuidance = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => GuidanceValue(option, v))] },
                "--other-size" => result with { OtherSize = OtherSizeValue(option, Value()) },
                "--no-controls" => result with { Controls = false },
                "--samples" => result with { SamplesDirectory = Value() },
                "--report" => result with { ReportPath = Value() },
                "--quantization" => result with { Quantization = QuantizationValue(option, Value()) },
                "--quantize-convolutions" => result with { QuantizeConvolutions = true },
                "--quantize-activations" => result with { QuantizeActivations = true },
                "--deep-cache" => result with { StepCache = DeepCacheValue(option, Value()) },
                "--help" or "-h" => result with { ShowHelp = true },
                _ => throw new ArgumentException($"Unknown option '{option}'."),
            };
        }
        if (result.Schedulers.Count == 0)
            throw new ArgumentException("--schedulers needs at least one name.");
        return result;
    }

    private static int PositiveInt(string option, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
            ? n
            : throw new ArgumentException($"{option} must be a positive integer, got '{value}'.");

    private static Diffusion.Core.Pipelines.DeepCache DeepCacheValue(string option, string value)
    {
        try
        {
            return Diffusion.Core.Pipelines.DeepCache.Parse(value);
        }
        catch (FormatException error)
        {
            throw new ArgumentException($"{option}: {error.Message}", error);
        }
    }

    private static Diffusion.Core.Execution.WeightQuantization QuantizationValue(string option, string value) => value.ToLowerInvariant() switch
    {
        "none" => Diffusion.Core.Execution.WeightQuantization.None,
        "int8" => Diffusion.Core.Execution.WeightQuantization.Int8,
        "int4" => Diffusion.Core.Execution.WeightQuantization.Int4,
        _ => throw new ArgumentException($"{option} must be none, int8 or int4, got '{value}'."),
    };

    private static float GuidanceValue(string option, string value) =>
        float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out float g) && float.IsFinite(g) && g >= 0
            ? g
            : throw new ArgumentException($"{option} must be a non-negative number, got '{value}'.");

    private static int OtherSizeValue(string option, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 0 && n % SceneGeometry.ImageSize == 0
            ? n
            : throw new ArgumentException($"{option} must be 0 or a multiple of {SceneGeometry.ImageSize}, got '{value}'.");
}
