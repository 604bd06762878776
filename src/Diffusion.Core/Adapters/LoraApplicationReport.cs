namespace Diffusion.Core.Adapters;

/// <summary>
/// What merging LoRAs into one model did: which LoRA modules found their weight, which keys matched nothing
/// (never dropped silently), and how many keys belong to other components of the pipeline.
/// </summary>
public sealed class LoraApplicationReport
{
    internal LoraApplicationReport(string modelPath, LoraTarget target, IReadOnlyList<string> matchedModules,
        IReadOnlyList<string> unmatchedKeys, int otherComponentModuleCount)
    {
        ModelPath = modelPath;
        Target = target;
        MatchedModules = matchedModules;
        UnmatchedKeys = unmatchedKeys;
        OtherComponentModuleCount = otherComponentModuleCount;
    }

    /// <summary>The ONNX model merged into.</summary>
    public string ModelPath { get; }

    /// <summary>The component the model is.</summary>
    public LoraTarget Target { get; }

    /// <summary>Merged modules as <c>"lora name: module key -> initializer"</c>, in file order.</summary>
    public IReadOnlyList<string> MatchedModules { get; }

    /// <summary>Modules or keys for this component that matched no weight (or a LoRA kind not supported), as
    /// <c>"lora name: key"</c>, in file order.</summary>
    public IReadOnlyList<string> UnmatchedKeys { get; }

    /// <summary>Modules for other components (e.g. text-encoder modules when merging into the UNet); not merged here.</summary>
    public int OtherComponentModuleCount { get; }

    /// <summary>One line: counts plus the first unmatched keys.</summary>
    public override string ToString()
    {
        string text = $"{Path.GetFileName(ModelPath)} ({Target}): {MatchedModules.Count} LoRA modules merged, {UnmatchedKeys.Count} keys unmatched";
        if (UnmatchedKeys.Count > 0)
        {
            var first = new List<string>(5);
            for (int i = 0; i < UnmatchedKeys.Count && i < 5; i++)
                first.Add(UnmatchedKeys[i]);
            text += " (first: " + string.Join("; ", first) + (UnmatchedKeys.Count > 5 ? "; ..." : string.Empty) + ")";
        }
        return text + $", {OtherComponentModuleCount} modules for other components.";
    }
}
