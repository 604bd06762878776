using Diffusion.Core.Imaging;
using Diffusion.Imaging.Skia;

namespace Diffusion.CrashProbe;

/// <summary>The scenarios a test can run in this child process, by name; each returns the line it prints on success.</summary>
internal static class Scenarios
{
    public static IReadOnlyDictionary<string, Func<string[], string>> All { get; } = new Dictionary<string, Func<string[], string>>
    {
        ["decode"] = Decode,
        ["session-threads"] = SessionScenarios.CreateWithThreads,
        ["concurrent-generate"] = PipelineScenarios.ConcurrentGenerate,
        ["dispose-during-generate"] = PipelineScenarios.DisposeDuringGenerate,
    };

    /// <summary>decode FILE: loads an image file with the default limits.</summary>
    private static string Decode(string[] args)
    {
        ImageBuffer image = SkiaImageCodec.Load(args[0]);
        return $"decoded {image.Width}x{image.Height}";
    }
}
