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
}
