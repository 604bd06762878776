using Diffusion.Core.Graphs.Proto;
using Google.Protobuf;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Builds one ONNX model (standard operators, opset 17) from C#: graph inputs and outputs, nodes, small constants, and
/// weights that stay in their checkpoint file (initializers with external data pointing into it). Written with the
/// official <c>onnx.proto</c> classes; <see cref="ToBytes"/> gives the serialized model, which is a few hundred
/// kilobytes whatever the weights weigh.
/// </summary>
/// <remarks>
/// Node outputs are named like torch's exporter names them (<c>/text_model/encoder/layers.0/self_attn/q_proj/Gemm_output_0</c>),
/// from the module scope the architecture code opens with <see cref="Scope"/>, so a built graph reads like an exported one.
/// Weights are requested with the shape the architecture expects: a missing tensor or a different shape is a
/// <see cref="WeightFileException"/> naming the file and the tensor, raised while building, before any session exists.
/// Every stored weight must live in one folder (the session resolves the external data against it).
/// </remarks>
internal sealed class OnnxGraphBuilder
{
    /// <summary>
    /// The ONNX operator set the builder emits (ONNX 1.14): LayerNormalization needs 17, a <c>Cast</c> from the float8
    /// types that fp8 checkpoints store needs 19 (and reductions take their axes as an input from 18).
    /// </summary>
    public const int Opset = 19;

    /// <summary>The ONNX IR version of built models: 9 is the first with the float8 element types.</summary>
    public const long IrVersion = 9;

    private const int OnnxFloat8E4M3Fn = 17;
    private const int OnnxFloat8E5M2 = 19;

    private readonly GraphProto _graph;
    private readonly IWeightSource _weights;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GraphValue> _weightValues = new(StringComparer.Ordinal);
    private readonly HashSet<string> _transposed = new(StringComparer.Ordinal);
    private readonly Stack<string> _scope = new();
    private readonly Dictionary<string, int> _opCounts = new(StringComparer.Ordinal);
    private string? _dataFolder;
    private bool _usesContribOps;
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    public OnnxGraphBuilder(string name, IWeightSource weights)
    {
        _graph = new GraphProto { Name = name };
        _weights = weights;
    }

    /// <summary>The folder every external weight lives in (null when the graph has none).</summary>
    public string? ExternalDataFolder => _dataFolder;

    /// <summary>Parameters the graph's weights hold (each stored weight counted once).</summary>
    public long ParameterCount { get; private set; }

    /// <summary>
    /// Whether attention is emitted as one fused <c>com.microsoft.MultiHeadAttention</c> node (default) or as the
    /// MatMul/Softmax/MatMul chain torch exports. The fused node keeps no [heads, tokens, tokens] score tensor in the
    /// arena: on SD 1.5's 4,096-token attention it runs faster, needs a fraction of the memory, and has no slow first runs
    /// (../shared/notes/onnxruntime-facts.md). Set before building.
    /// </summary>
    public bool FusedAttention { get; init; } = true;

    /// <summary>Opens a module scope (<c>text_model</c>, <c>encoder</c>, <c>layers.0</c>…) for the nodes created until it is disposed.</summary>
    public IDisposable Scope(string module)
    {
        _scope.Push(module);
        return new ScopeExit(_scope);
    }

    /// <summary>Declares a graph input; a dimension is a fixed size (<see cref="long"/>) or a symbolic name (<see cref="string"/>).</summary>
    public GraphValue Input(string name, TensorProto.Types.DataType type, params object[] dimensions)
    {
        Reserve(name);
        _graph.Input.Add(GraphValueInfo.Create(name, type, dimensions));
        return new GraphValue(name);
    }

    /// <summary>
    /// A float32 graph input with a default: an initializer of the same name holds <paramref name="defaultValues"/>, so a
    /// caller may leave it out (ONNX Runtime's overridable initializer; it is never constant-folded).
    /// </summary>
    public GraphValue InputWithDefault(string name, float[] defaultValues)
    {
        Reserve(name);
        _graph.Input.Add(GraphValueInfo.Create(name, TensorProto.Types.DataType.Float, [(long)defaultValues.Length]));
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, Name = name };
        tensor.Dims.Add(defaultValues.Length);
        tensor.FloatData.AddRange(defaultValues);
        _graph.Initializer.Add(tensor);
        return new GraphValue(name);
    }

    /// <summary>Declares <paramref name="value"/> as the graph output <paramref name="name"/> (through an Identity when it has another name).</summary>
    public void Output(GraphValue value, string name, TensorProto.Types.DataType type, params object[] dimensions)
    {
        if (value.Name != name)
        {
            Reserve(name);
            var identity = new NodeProto { OpType = "Identity", Name = ScopedName("Identity"), Input = { value.Name }, Output = { name } };
            _graph.Node.Add(identity);
        }
        _graph.Output.Add(GraphValueInfo.Create(name, type, dimensions));
    }

    /// <summary>Adds a node with one output and returns it.</summary>
    public GraphValue Node(string opType, GraphValue[] inputs, params NodeAttribute[] attributes) => Node(opType, inputs, 1, attributes)[0];

    /// <summary>
    /// Adds a node whose one output has the given name (a graph output the node produces directly, as an exporter
    /// names it, so readers that follow the producer of an output find the operator itself).
    /// </summary>
    public GraphValue NamedNode(string opType, GraphValue[] inputs, string outputName, params NodeAttribute[] attributes)
    {
        Reserve(outputName);
        var node = new NodeProto { OpType = opType, Name = ScopedName(opType), Output = { outputName } };
        foreach (GraphValue input in inputs)
            node.Input.Add(input.Name);
        foreach (NodeAttribute attribute in attributes)
            node.Attribute.Add(attribute.ToProto());
        _graph.Node.Add(node);
        return new GraphValue(outputName);
    }

    /// <summary>
    /// Adds one node of ONNX Runtime's <c>com.microsoft</c> contrib domain (fused attention), which every ONNX Runtime
    /// build runs on its CPU provider; the model then imports that domain.
    /// </summary>
    public GraphValue ContribNode(string opType, GraphValue[] inputs, params NodeAttribute[] attributes)
    {
        _usesContribOps = true;
        GraphValue output = Node(opType, inputs, 1, attributes)[0];
        _graph.Node[^1].Domain = ContribDomain;
        return output;
    }

    /// <summary>ONNX Runtime's contrib-operator domain.</summary>
    public const string ContribDomain = "com.microsoft";

    /// <summary>Adds a node with <paramref name="outputCount"/> outputs; an empty input name is an omitted optional input.</summary>
    public GraphValue[] Node(string opType, GraphValue[] inputs, int outputCount, params NodeAttribute[] attributes)
    {
        string nodeName = ScopedName(opType);
        var node = new NodeProto { OpType = opType, Name = nodeName };
        foreach (GraphValue input in inputs)
            node.Input.Add(input.Name);
        var outputs = new GraphValue[outputCount];
        for (int i = 0; i < outputCount; i++)
        {
            string output = $"{nodeName}_output_{i}";
            Reserve(output);
            node.Output.Add(output);
            outputs[i] = new GraphValue(output);
        }
        foreach (NodeAttribute attribute in attributes)
            node.Attribute.Add(attribute.ToProto());
        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>A float32 constant tensor (small: shapes, scales, masks' fill values).</summary>
    public GraphValue Constant(float[] values, params long[] shape)
    {
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, Name = ScopedName("Constant") };
        tensor.Dims.AddRange(shape);
        tensor.FloatData.AddRange(values);
        return AddInitializer(tensor);
    }

    /// <summary>A scalar float32 constant.</summary>
    public GraphValue Scalar(float value) => Constant([value]);

    /// <summary>A 1-D float64 constant tensor (RoPE frequencies, computed in float64 as diffusers does).</summary>
    public GraphValue Doubles(double[] values)
    {
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Double, Name = ScopedName("Constant") };
        tensor.Dims.Add(values.Length);
        tensor.DoubleData.AddRange(values);
        return AddInitializer(tensor);
    }

    /// <summary>An int64 constant tensor (shapes, axes, indices); 1-D unless <paramref name="scalar"/>.</summary>
    public GraphValue Int64s(long[] values, bool scalar = false)
    {
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Name = ScopedName("Constant") };
        if (!scalar)
            tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        return AddInitializer(tensor);
    }

    /// <summary>
    /// The checkpoint's tensor <paramref name="name"/> as a float32 value: the stored tensor becomes an initializer of the
    /// checkpoint's name and type pointing into the file, followed by a Cast when it is stored in float16 or bfloat16
    /// (ONNX Runtime folds the cast once when the session is created). The same name asked twice gives the same value.
    /// </summary>
    /// <exception cref="WeightFileException">The tensor is missing or its shape is not <paramref name="expectedShape"/>.</exception>
    public GraphValue Weight(string name, params long[] expectedShape) => Weight(name, expectedShape, allowTransposed: false).Value;

    /// <summary>
    /// A stored buffer (torch's <c>register_buffer</c>, e.g. SD3's sin-cos position table): read as <see cref="Weight(string, long[])"/>
    /// reads a tensor, but not counted in <see cref="ParameterCount"/>, as torch's parameter count leaves buffers out.
    /// </summary>
    public GraphValue Buffer(string name, params long[] expectedShape) => Weight(name, expectedShape, allowTransposed: false, isParameter: false).Value;

    /// <summary>
    /// An <c>nn.Linear</c> weight [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>], or the same matrix stored
    /// [in, out] by a checkpoint layout that keeps it so (<paramref name="storedInOut"/> then tells the caller to multiply
    /// without transposing).
    /// </summary>
    public GraphValue LinearWeight(string name, long outFeatures, long inFeatures, out bool storedInOut)
    {
        (GraphValue value, storedInOut) = Weight(name, [outFeatures, inFeatures], allowTransposed: true);
        return value;
    }

    private (GraphValue Value, bool Transposed) Weight(string name, long[] expectedShape, bool allowTransposed, bool isParameter = true)
    {
        if (_weightValues.TryGetValue(name, out GraphValue existing))
            return (existing, _transposed.Contains(name));
        WeightReference reference = _weights.Find(name, expectedShape)
            ?? throw new WeightFileException(_weights.Description, name, $"missing: the {_graph.Name} architecture needs it, shaped [{string.Join(", ", expectedShape)}].");
        long[] stored = reference.StoredTransposed && expectedShape.Length == 2 ? [expectedShape[1], expectedShape[0]] : expectedShape;
        if (reference.StoredTransposed && !allowTransposed)
            throw new WeightFileException(reference.FilePath, reference.Name, $"is stored transposed, which the {_graph.Name} architecture cannot use for '{name}'.");
        if (!reference.Shape.AsSpan().SequenceEqual(stored))
            throw new WeightFileException(reference.FilePath, reference.Name,
                $"has shape [{string.Join(", ", reference.Shape)}]; the {_graph.Name} architecture expects [{string.Join(", ", stored)}]" +
                (reference.Name == name ? "." : $" (for {name})."));
        string folder = Path.GetDirectoryName(Path.GetFullPath(reference.FilePath)) ?? ".";
        _dataFolder ??= folder;
        if (!string.Equals(folder, _dataFolder, StringComparison.Ordinal))
            throw new WeightFileException(reference.FilePath, name, $"is in another folder than the graph's other weights ({_dataFolder}); one graph reads one folder.");

        Reserve(name);
        var tensor = new TensorProto
        {
            Name = name,
            DataType = reference.ElementType switch
            {
                WeightElementType.Float16 => (int)TensorProto.Types.DataType.Float16,
                WeightElementType.BFloat16 => (int)TensorProto.Types.DataType.Bfloat16,
                // The vendored onnx.proto (IR 8) predates the float8 enum values; IR 9 numbers them 17 and 19.
                WeightElementType.Float8E4M3Fn => OnnxFloat8E4M3Fn,
                WeightElementType.Float8E5M2 => OnnxFloat8E5M2,
                _ => (int)TensorProto.Types.DataType.Float,
            },
            DataLocation = TensorProto.Types.DataLocation.External,
        };
        tensor.Dims.AddRange(stored);
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Path.GetFileName(reference.FilePath) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = reference.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = reference.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        _graph.Initializer.Add(tensor);
        if (isParameter)
            ParameterCount += reference.ElementCount;

        GraphValue value = reference.ElementType == WeightElementType.Float32
            ? new GraphValue(name)
            : Node("Cast", [new GraphValue(name)], NodeAttribute.Int("to", (long)TensorProto.Types.DataType.Float));
        _weightValues[name] = value;
        if (reference.StoredTransposed)
            _transposed.Add(name);
        return (value, reference.StoredTransposed);
    }

    /// <summary>Whether the weight source has a tensor named <paramref name="name"/> (to pick between naming conventions).</summary>
    public bool HasWeight(string name) => _weightValues.ContainsKey(name) || _weights.Find(name, []) is not null;

    /// <summary>Sets a <c>ModelProto.metadata_props</c> entry (what the library itself reads back about a built graph).</summary>
    public void SetMetadata(string key, string value) => _metadata[key] = value;

    /// <summary>The serialized model (IR version <see cref="IrVersion"/>, the default opset <see cref="Opset"/>).</summary>
    public byte[] ToBytes()
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "Diffusion.Core",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = Opset });
        if (_usesContribOps)
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = ContribDomain, Version = 1 });
        foreach ((string key, string value) in _metadata)
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model.ToByteArray();
    }

    private GraphValue AddInitializer(TensorProto tensor)
    {
        Reserve(tensor.Name);
        _graph.Initializer.Add(tensor);
        return new GraphValue(tensor.Name);
    }

    /// <summary>A unique torch-style name under the current scope: <c>/a/b/MatMul</c>, then <c>/a/b/MatMul_1</c>, ….</summary>
    private string ScopedName(string opType)
    {
        string prefix = _scope.Count == 0 ? "/" : "/" + string.Join("/", _scope.Reverse()) + "/";
        string key = prefix + opType;
        int count = _opCounts.GetValueOrDefault(key);
        _opCounts[key] = count + 1;
        return count == 0 ? key : $"{key}_{count}";
    }

    private void Reserve(string name)
    {
        if (!_names.Add(name))
            throw new InvalidOperationException($"The graph already has a value named '{name}'.");
    }

    private sealed class ScopeExit(Stack<string> scope) : IDisposable
    {
        public void Dispose() => scope.Pop();
    }
}
