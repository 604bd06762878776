namespace Diffusion.Core.Models;

/// <summary>
/// Where a model's ONNX graph comes from: an <c>.onnx</c> file (its external data beside it), or a graph built in memory
/// by the graph builder whose weights are external data in a checkpoint's folder. Either way ONNX Runtime reads the
/// weights itself; a built graph is never written to disk.
/// </summary>
internal sealed class ModelSource
{
    private ModelSource(string description, string? filePath, byte[]? graph, string? externalDataFolder)
    {
        Description = description;
        FilePath = filePath;
        Graph = graph;
        ExternalDataFolder = externalDataFolder;
    }

    /// <summary>What messages name: the file's path, or what was built from which checkpoint.</summary>
    public string Description { get; }

    /// <summary>The <c>.onnx</c> file, or <see langword="null"/> for a built graph.</summary>
    public string? FilePath { get; }

    /// <summary>The serialized built graph, or <see langword="null"/> for a file.</summary>
    public byte[]? Graph { get; }

    /// <summary>The folder a built graph's external weights are resolved against (null when it has none).</summary>
    public string? ExternalDataFolder { get; }

    /// <summary>A model file.</summary>
    public static ModelSource FromFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return new ModelSource(path, path, null, null);
    }

    /// <summary>A graph built in memory.</summary>
    public static ModelSource FromGraph(string description, byte[] graph, string? externalDataFolder)
    {
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(graph);
        return new ModelSource(description, null, graph, externalDataFolder);
    }

    public override string ToString() => Description;
}
