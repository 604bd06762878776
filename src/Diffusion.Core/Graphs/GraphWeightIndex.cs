using Diffusion.Core.Graphs.Proto;

namespace Diffusion.Core.Graphs;

/// <summary>
/// What the load-time weight rewrites (<see cref="WidenedWeights"/>, <see cref="LinearWeightQuantizer"/>,
/// <see cref="ConvWeightQuantizer"/>) look up in a graph: its initializers, which node produces each value, how often each
/// value is read, its inputs.
/// </summary>
internal sealed class GraphWeightIndex
{
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _uses = new(StringComparer.Ordinal);
    private readonly HashSet<string> _inputs;

    public GraphWeightIndex(GraphProto graph)
    {
        foreach (TensorProto tensor in graph.Initializer)
            _initializers[tensor.Name] = tensor;
        foreach (NodeProto node in graph.Node)
        {
            foreach (string output in node.Output)
                _producers[output] = node;
            foreach (string input in node.Input)
                _uses[input] = _uses.GetValueOrDefault(input) + 1;
        }
        _inputs = new HashSet<string>(graph.Input.Select(i => i.Name), StringComparer.Ordinal);
    }

    /// <summary>How many node inputs read <paramref name="value"/>.</summary>
    public int Uses(string value) => _uses.GetValueOrDefault(value);

    /// <summary>The initializer named <paramref name="name"/>, or null.</summary>
    public TensorProto? Initializer(string name) => _initializers.GetValueOrDefault(name);

    /// <summary>
    /// The initializer <paramref name="value"/> is, or the one a <c>Cast</c> producing it reads (a bias stored in half
    /// precision); null otherwise.
    /// </summary>
    public TensorProto? ConstantBehind(string value)
        => Initializer(value) ?? (_producers.TryGetValue(value, out NodeProto? producer) && producer.OpType == "Cast" && producer.Domain.Length == 0
            && producer.Input.Count == 1 ? Initializer(producer.Input[0]) : null);

    /// <summary>Whether <paramref name="name"/> is also a graph input (a session may then feed it).</summary>
    public bool IsGraphInput(string name) => _inputs.Contains(name);

    /// <summary>
    /// The constant weight behind <paramref name="value"/>: a float32 initializer, or a float16/bfloat16 one behind a
    /// <c>Cast</c> (returned in <paramref name="cast"/>) used by nothing else; <paramref name="value"/> itself read by one
    /// node only unless <paramref name="sharedValue"/>. Weights named in <paramref name="keep"/> or fed as graph inputs, and
    /// embedded ones unless <paramref name="embeddedAllowed"/>, are not.
    /// </summary>
    public bool TryGetConstantWeight(string value, IReadOnlySet<string> keep, bool embeddedAllowed, out NodeProto? cast, out TensorProto weight,
        bool sharedValue = false)
    {
        cast = null;
        weight = null!;
        if (!sharedValue && Uses(value) != 1)
            return false;
        string name = value;
        if (_producers.TryGetValue(value, out NodeProto? producer))
        {
            if (producer.OpType != "Cast" || producer.Domain.Length != 0 || producer.Input.Count != 1 || Uses(producer.Input[0]) != 1
                || producer.Attribute.FirstOrDefault(a => a.Name == "to") is not { I: (long)TensorProto.Types.DataType.Float })
                return false;
            cast = producer;
            name = producer.Input[0];
        }
        if (Initializer(name) is not TensorProto tensor || keep.Contains(name) || IsGraphInput(name)
            || !GraphWeightReader.HasValues(tensor) || (!embeddedAllowed && tensor.DataLocation != TensorProto.Types.DataLocation.External))
            return false;
        bool half = tensor.DataType is (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16;
        if (cast is null ? tensor.DataType != (int)TensorProto.Types.DataType.Float : !half)
            return false;
        weight = tensor;
        return true;
    }
}
