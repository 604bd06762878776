using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Cli;

/// <summary><c>generate --optimization-level</c>: ONNX Runtime's graph optimisation level, or the library's automatic choice.</summary>
internal enum OptimizationLevel
{
    /// <summary>By model size (<see cref="Core.Execution.SessionSettings.GraphOptimizationLevel"/> left null).</summary>
    Automatic,
    Disabled,
    Basic,
    Extended,
    All,
}

internal static class OptimizationLevelExtensions
{
    /// <summary>The session setting: null for <see cref="OptimizationLevel.Automatic"/>.</summary>
    public static GraphOptimizationLevel? ToSessionSetting(this OptimizationLevel level) => level switch
    {
        OptimizationLevel.Disabled => GraphOptimizationLevel.ORT_DISABLE_ALL,
        OptimizationLevel.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
        OptimizationLevel.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        OptimizationLevel.All => GraphOptimizationLevel.ORT_ENABLE_ALL,
        _ => null,
    };
}
