namespace Diffusion.Core.Graphs;

/// <summary>
/// The modulation layers of a built graph whose rows are kept as the original checkpoint stores them, (shift, scale), where
/// diffusers' layer of the same name has (scale, shift): the final norms of Black Forest Labs' FLUX.1 and Stability AI's
/// SD3 files are read in place and the graph swaps the halves, so no tensor is rewritten. A LoRA merged into such a layer
/// must have its update's halves in the same order; the graph records the layers in its metadata for that.
/// </summary>
internal static class ShiftFirstModulations
{
    /// <summary>The <c>ModelProto.metadata_props</c> key: module paths (<c>norm_out.linear</c>), comma-separated.</summary>
    public const string MetadataKey = "diffusion_core.shift_first_modulations";

    /// <summary>Records <paramref name="modules"/> in <paramref name="graph"/>'s metadata.</summary>
    public static void Record(OnnxGraphBuilder graph, params string[] modules)
        => graph.SetMetadata(MetadataKey, string.Join(',', modules));

    /// <summary>The module paths a graph's metadata lists (empty when it has none).</summary>
    public static HashSet<string> Read(IReadOnlyDictionary<string, string> metadata)
        => metadata.TryGetValue(MetadataKey, out string? value)
            ? new HashSet<string>(value.Split(',', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal)
            : new HashSet<string>(StringComparer.Ordinal);
}
