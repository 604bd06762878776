using Diffusion.Core.Execution;
using Diffusion.Core.Models;

namespace Diffusion.Core.Pipelines;

/// <summary>The loaders' one call into <see cref="MemoryPlan"/>: the budget checked, the plan made and logged.</summary>
internal static class MemoryPlanning
{
    /// <exception cref="InvalidOptionException"><see cref="PipelineSettings.MemoryBudget"/> is not positive.</exception>
    public static MemoryPlan Plan(PipelineSettings settings, IReadOnlyList<(string Name, ModelSource Source)> components)
    {
        if (settings.MemoryBudget is <= 0)
            throw new InvalidOptionException(nameof(PipelineSettings.MemoryBudget), $"must be a positive number of bytes, was {settings.MemoryBudget}.");
        MemoryPlan plan = MemoryPlan.Create([.. components.Select(c => (c.Name, c.Source.WeightBytes))], settings.MemoryMode, settings.MemoryBudget,
            AvailableMemory.Read);
        if (settings.Logger is { } logger && settings.MemoryMode == MemoryMode.Auto)
            PipelineLog.MemoryPlanned(logger, plan);
        return plan;
    }

    /// <summary>Whether Auto tiles this call's VAE decode (<see cref="MemoryPlan.TilesVaeDecode"/>), logged when it does.</summary>
    public static bool TilesVaeDecode(MemoryPlan? plan, int batch, int width, int height, Microsoft.Extensions.Logging.ILogger? logger)
    {
        if (plan is null || !plan.TilesVaeDecode(batch, width, height, AvailableMemory.Read, out string reason))
            return false;
        if (logger is not null)
            PipelineLog.VaeDecodeTiled(logger, reason);
        return true;
    }
}
