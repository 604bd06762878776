using Diffusion.Core.Graphs.Proto;

namespace Diffusion.Core.Graphs;

/// <summary>The small int64 constants the rewrites share (pads, window bounds), one initializer per distinct value.</summary>
internal sealed class SharedInt64Constants(GraphProto graph)
{
    private readonly Dictionary<string, TensorProto> _tensors = new(StringComparer.Ordinal);
    private readonly string _prefix = "int8_activations/constant_" + graph.Initializer.Count + "_";

    /// <summary>The name of a 1-D int64 constant holding <paramref name="values"/>.</summary>
    public string Int64s(long[] values)
    {
        string key = string.Join(',', values);
        if (!_tensors.TryGetValue(key, out TensorProto? tensor))
        {
            tensor = new TensorProto { Name = _prefix + _tensors.Count, DataType = (int)TensorProto.Types.DataType.Int64 };
            tensor.Dims.Add(values.Length);
            tensor.Int64Data.AddRange(values);
            _tensors[key] = tensor;
        }
        return tensor.Name;
    }

    /// <summary>Adds the constants made to the graph.</summary>
    public void AddTo(GraphProto graph) => graph.Initializer.AddRange(_tensors.Values);
}
