using System.Globalization;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// Options of the <c>overhead</c> and <c>memory</c> verbs (model, provider and threads are consumed earlier by
/// <see cref="BenchmarkSettings.ApplyCommandLine"/> and reach the harness through its environment variables).
/// </summary>
public sealed record HarnessOptions
{
    /// <summary>Image width and height in pixels (--size, default 512).</summary>
    public int Size { get; init; } = 512;

    /// <summary>Denoising steps (--steps, default 20).</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Measured runs of each side (--runs, default 3), after one warm-up run each.</summary>
    public int Runs { get; init; } = 3;

    /// <summary>For <c>memory</c>: generations the pipeline component runs in its process (--generations, default 1).</summary>
    public int Generations { get; init; } = 1;

    /// <summary>Classifier-free guidance scale (--guidance, default 7.5).</summary>
    public float GuidanceScale { get; init; } = 7.5f;

    /// <summary>Pipeline memory mode (--memory-mode keep|keep-no-arena|sequential, default keep; keep-no-arena: keep with ORT's CPU arena off).</summary>
    public string MemoryMode { get; init; } = "keep";

    /// <summary>For <c>memory</c>: measure only this component in this process (--component); null runs them all, each in a child process.</summary>
    public string? Component { get; init; }

    /// <summary>Tile side in latents for the tiled VAE measurement (--tile, default 64).</summary>
    public int TileSize { get; init; } = Diffusion.Core.Models.TiledVaeDecoder.DefaultTileSize;

    /// <summary>Tile overlap in latents for the tiled VAE measurement (--overlap, default 16).</summary>
    public int Overlap { get; init; } = Diffusion.Core.Models.TiledVaeDecoder.DefaultOverlap;

    /// <summary>Parses <c>--name value</c> pairs; unknown names are an error.</summary>
    public static HarnessOptions Parse(ReadOnlySpan<string> args)
    {
        var options = new HarnessOptions();
        for (int i = 0; i < args.Length; i++)
        {
            if (i + 1 >= args.Length)
                throw new ArgumentException($"option {args[i]} needs a value");
            string value = args[++i];
            options = args[i - 1] switch
            {
                "--size" => options with { Size = ParseInt(value) },
                "--steps" => options with { Steps = ParseInt(value) },
                "--runs" => options with { Runs = ParseInt(value) },
                "--generations" => options with { Generations = ParseInt(value) },
                "--guidance" => options with { GuidanceScale = float.Parse(value, CultureInfo.InvariantCulture) },
                "--memory-mode" => options with { MemoryMode = value },
                "--component" => options with { Component = value },
                "--tile" => options with { TileSize = ParseInt(value) },
                "--overlap" => options with { Overlap = ParseInt(value) },
                _ => throw new ArgumentException($"unknown option {args[i - 1]}"),
            };
        }
        if (options.Size <= 0 || options.Size % 8 != 0)
            throw new ArgumentException($"--size must be a positive multiple of 8, got {options.Size}");
        if (options.MemoryMode is not ("keep" or "keep-no-arena" or "keep-shared-arena" or "sequential"))
            throw new ArgumentException($"--memory-mode must be keep, keep-no-arena or sequential, got {options.MemoryMode}");
        return options;
    }

    /// <summary>The options as command-line arguments, for a child process.</summary>
    public IEnumerable<string> ToArguments()
    {
        yield return "--size";
        yield return Size.ToString(CultureInfo.InvariantCulture);
        yield return "--steps";
        yield return Steps.ToString(CultureInfo.InvariantCulture);
        yield return "--generations";
        yield return Generations.ToString(CultureInfo.InvariantCulture);
        yield return "--guidance";
        yield return GuidanceScale.ToString(CultureInfo.InvariantCulture);
        yield return "--memory-mode";
        yield return MemoryMode;
        yield return "--tile";
        yield return TileSize.ToString(CultureInfo.InvariantCulture);
        yield return "--overlap";
        yield return Overlap.ToString(CultureInfo.InvariantCulture);
    }

    private static int ParseInt(string value) => int.Parse(value, CultureInfo.InvariantCulture);
}
