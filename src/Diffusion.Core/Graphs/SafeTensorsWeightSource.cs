using Diffusion.Core.Weights;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Weights from <c>.safetensors</c> files (one, or the shards a <c>*.safetensors.index.json</c> lists): each tensor is
/// found by name and referenced where it lies in its file. Only the headers are read.
/// </summary>
internal sealed class SafeTensorsWeightSource : IWeightSource, IDisposable
{
    private readonly List<SafeTensorsFile> _files = [];
    private readonly Dictionary<string, (SafeTensorsFile File, SafeTensorInfo Info)> _tensors = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    /// <summary>Opens every file's header; a tensor name in two files is an error.</summary>
    /// <exception cref="WeightFileException">A file is missing, malformed or truncated, or two files hold the same tensor.</exception>
    public SafeTensorsWeightSource(IReadOnlyList<string> paths)
    {
        Description = paths.Count == 1 ? paths[0] : Path.GetDirectoryName(Path.GetFullPath(paths[0])) ?? paths[0];
        try
        {
            foreach (string path in paths)
            {
                SafeTensorsFile file = SafeTensorsFile.Open(path);
                _files.Add(file);
                foreach (SafeTensorInfo info in file.Tensors)
                {
                    if (!_tensors.TryAdd(info.Name, (file, info)))
                        throw new WeightFileException(path, info.Name, $"is also in {_tensors[info.Name].File.FilePath}.");
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Description { get; }

    /// <summary>The first file's <c>__metadata__</c> map (a single-file checkpoint's model-spec entries).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _files[0].Metadata;

    /// <summary>Every tensor name the files hold.</summary>
    public IEnumerable<string> Names => _tensors.Keys;

    /// <summary>Whether the files hold a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>Reads a (small) tensor converted to float32, for weights used outside the graph.</summary>
    /// <exception cref="WeightFileException">The tensor is missing or not floating-point.</exception>
    public float[] ReadAsFloat32(string name)
    {
        if (!_tensors.TryGetValue(name, out (SafeTensorsFile File, SafeTensorInfo Info) entry))
            throw new WeightFileException(Description, name, "missing.");
        return entry.File.ReadAsFloat32(name);
    }

    /// <summary>The tensors no graph has asked for so far (EMA copies, buffers such as <c>position_ids</c>, unused layers).</summary>
    public IEnumerable<string> Unused => _tensors.Keys.Where(name => !_used.Contains(name));

    /// <summary>The element type the files mostly store (for reports).</summary>
    public string MainDType => _tensors.Values.GroupBy(t => t.Info.DType).OrderByDescending(g => g.Count()).FirstOrDefault()?.Key ?? "none";

    public WeightReference? Find(string name, long[] expectedShape)
    {
        if (!_tensors.TryGetValue(name, out (SafeTensorsFile File, SafeTensorInfo Info) entry))
            return null;
        if (expectedShape.Length > 0) // a lookup without a shape is a probe (a layer count, a naming check), not a use
            _used.Add(name);
        SafeTensorInfo info = entry.Info;
        WeightElementType type = info.DType switch
        {
            "F32" => WeightElementType.Float32,
            "F16" => WeightElementType.Float16,
            "BF16" => WeightElementType.BFloat16,
            "F8_E4M3" => WeightElementType.Float8E4M3Fn,
            "F8_E5M2" => WeightElementType.Float8E5M2,
            _ => throw new WeightFileException(entry.File.FilePath, name, $"is stored as {info.DType}; weights must be F32, F16, BF16, F8_E4M3 or F8_E5M2."),
        };
        return new WeightReference(name, entry.File.FilePath, type, info.ShapeArray, entry.File.DataSectionOffset + info.DataStart, info.DataEnd - info.DataStart);
    }

    public void Dispose()
    {
        foreach (SafeTensorsFile file in _files)
            file.Dispose();
        _files.Clear();
    }
}
