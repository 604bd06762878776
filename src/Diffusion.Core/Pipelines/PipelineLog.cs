using Diffusion.Core.Adapters;
using Microsoft.Extensions.Logging;

namespace Diffusion.Core.Pipelines;

/// <summary>Source-generated log messages of the pipelines (no formatting cost when the level is off).</summary>
internal static partial class PipelineLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Loaded {Directory} in {Milliseconds:F0} ms (scheduler {Scheduler})")]
    public static partial void Loaded(ILogger logger, string directory, double milliseconds, string scheduler);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Generated {Count} image(s) {Width}x{Height}, {Steps} steps, seed {Seed}: {Timings}")]
    public static partial void Generated(ILogger logger, int count, int width, int height, int steps, ulong seed, GenerationTimings timings);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Which} truncated: {Dropped} tokens past the {Max}-token window were dropped")]
    public static partial void PromptTruncated(ILogger logger, string which, int dropped, int max);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "LoRA: {Report}")]
    public static partial void LoraApplied(ILogger logger, LoraApplicationReport report);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Single-file checkpoint {Path}: {Report}")]
    public static partial void SingleFileDetected(ILogger logger, string path, string report);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "Memory: {Reason}")]
    public static partial void VaeDecodeTiled(ILogger logger, string reason);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Memory: {Plan}")]
    public static partial void MemoryPlanned(ILogger logger, MemoryPlan plan);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Textual inversion: token '{Token}' added as id {Id}")]
    public static partial void TokenAdded(ILogger logger, string token, int id);
}
