namespace Diffusion.Core.Models;

/// <summary>
/// Where a model's ONNX graph comes from: an <c>.onnx</c> file (its external data beside it), or a graph built in memory
/// by the graph builder whose weights are external data in a checkpoint's folder. Either way ONNX Runtime reads the
/// weights itself; a built graph is never written to disk.
/// </summary>
internal sealed class ModelSource
{
    private readonly Lazy<long?> _weightBytes;

    private ModelSource(string description, string? filePath, byte[]? graph, string? externalDataFolder, long? weightBytes, string? embeddedWeightsFile = null)
    {
        Description = description;
        FilePath = filePath;
        Graph = graph;
        ExternalDataFolder = externalDataFolder;
        EmbeddedWeightsFile = embeddedWeightsFile;
        _weightBytes = new Lazy<long?>(() => weightBytes ?? (filePath is null ? null : EstimateFileWeights(filePath)));
    }

    /// <summary>
    /// About how many bytes the weights take (as float32 for a built graph; as stored for a file: the <c>.onnx</c> and
    /// the external-data files beside it), for choices that depend on model size; null when unknown.
    /// </summary>
    public long? WeightBytes => _weightBytes.Value;

    /// <summary>What messages name: the file's path, or what was built from which checkpoint.</summary>
    public string Description { get; }

    /// <summary>The <c>.onnx</c> file, or <see langword="null"/> for a built graph.</summary>
    public string? FilePath { get; }

    /// <summary>The serialized built graph, or <see langword="null"/> for a file.</summary>
    public byte[]? Graph { get; }

    /// <summary>The folder a built graph's external weights are resolved against (null when it has none).</summary>
    public string? ExternalDataFolder { get; }

    /// <summary>
    /// For a graph in memory that came from a model file (<see cref="InMemory"/>, or a graph cut from one): that file's name
    /// in <see cref="ExternalDataFolder"/>, where the weights embedded in the graph were stored. The load-time rewrites point
    /// the placeholders of the embedded weights they replace at it (ONNX Runtime checks that an external-data file exists);
    /// without it they leave embedded weights as they are. Null otherwise.
    /// </summary>
    public string? EmbeddedWeightsFile { get; }

    /// <summary>A model file.</summary>
    public static ModelSource FromFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return new ModelSource(path, path, null, null, null);
    }

    /// <summary>A graph built in memory, its weights taking about <paramref name="weightBytes"/> once loaded.</summary>
    public static ModelSource FromGraph(string description, byte[] graph, string? externalDataFolder, long? weightBytes = null)
    {
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(graph);
        return new ModelSource(description, null, graph, externalDataFolder, weightBytes ?? graph.LongLength);
    }

    /// <summary>The folder the graph's external data resolves in: a built graph's weights folder, or the model file's own.</summary>
    public string? WeightsFolder => ExternalDataFolder ?? (FilePath is string path ? Path.GetDirectoryName(Path.GetFullPath(path)) ?? "." : null);

    /// <summary>
    /// The same model as a graph in memory (itself when it is one), for the load-time rewrites that edit a graph
    /// (quantisation, step caching's cut) and need its external data to resolve beside the file. The file is read whole:
    /// a model file with its weights embedded is under protobuf's 2 GB limit, and bigger models keep their weights in
    /// external data.
    /// </summary>
    public ModelSource InMemory() => Graph is not null ? this
        : new ModelSource(Description, null, File.ReadAllBytes(FilePath!), WeightsFolder, WeightBytes, Path.GetFileName(FilePath));

    /// <summary>
    /// Another graph made from this model's (a cut of it): the same weights folder, weight size and embedded-weights file,
    /// so that load-time rewrites treat it as they treat this model.
    /// </summary>
    public ModelSource Derived(string description, byte[] graph)
        => new(description, null, graph, WeightsFolder, WeightBytes, EmbeddedWeightsFile ?? (FilePath is null ? null : Path.GetFileName(FilePath)));

    /// <summary>Whether a file beside a model file counts as its weights (not a graph, config or text).</summary>
    internal static bool IsWeightFile(FileInfo file) => file.Extension is not (".onnx" or ".json" or ".txt" or ".md" or ".model");

    // A diffusers component folder holds its model.onnx and the external data ONNX Runtime reads with it (weights.pb,
    // model.onnx_data, or one file per tensor); configs and other graphs are not weights.
    private static long? EstimateFileWeights(string path)
    {
        try
        {
            var file = new FileInfo(path);
            if (!file.Exists)
                return null;
            long total = file.Length;
            foreach (FileInfo sibling in file.Directory!.EnumerateFiles())
            {
                if (sibling.Name != file.Name && IsWeightFile(sibling))
                    total += sibling.Length;
            }
            return total;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public override string ToString() => Description;
}
