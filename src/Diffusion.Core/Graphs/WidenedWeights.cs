using System.Numerics.Tensors;
using Diffusion.Core.Execution;
using Diffusion.Core.Graphs.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Graphs;

/// <summary>
/// The float16/bfloat16 weights of a built graph widened to float32 by this library instead of by ONNX Runtime, held in
/// pinned memory this object owns and handed to the session with <see cref="SessionOptions.AddInitializer"/>.
/// </summary>
/// <remarks>
/// A built graph reads each half-precision weight from the checkpoint and casts it to float32 (<c>Cast</c> after the
/// initializer). ONNX Runtime folds those casts when the session is created, converting element by element and copying
/// each result into a new initializer: 12.7 s for the 860 M weights of a real-size SD 1.5 UNet on a 2-core AMD EPYC
/// (ONNX Runtime 1.32.0, level BASIC, perf: most of it in ORT's own code and page faults), against about a second for
/// reading and converting them here with <see cref="TensorPrimitives.ConvertToSingle(ReadOnlySpan{Half}, Span{float})"/>.
/// <see cref="Widen(ref byte[], string, IReadOnlySet{string})"/> removes each such cast, declares its output a float32 initializer and supplies the values; ONNX
/// Runtime then uses this memory in place (no second copy) as long as it does not pre-pack or re-layout the weight, so it
/// applies only below level ALL (whose NCHWc transformer reads Conv weights from the file itself) and is not used when
/// the session writes its optimised graph to a cache (ORT would serialise the graph's placeholders, not these values).
/// The placeholder keeps the checkpoint's external-data reference, whose length is that of the half-precision data: if
/// ONNX Runtime ever read it instead of the supplied value, the sizes would disagree and session creation would fail
/// loudly rather than run on wrong weights.
/// </remarks>
internal sealed class WidenedWeights : SuppliedInitializers
{
    private readonly HashSet<string> _replaced = new(StringComparer.Ordinal);

    private WidenedWeights()
    {
    }

    /// <summary>Number of weights widened.</summary>
    public int Count => SuppliedCount;

    /// <summary>Initializers whose values came from the session's weight overrides (applied here, not by name).</summary>
    public IReadOnlySet<string> ReplacedByOverrides => _replaced;

    /// <summary>Bytes of float32 values held (replacements from overrides not included: their owner holds them).</summary>
    public long Bytes { get; private set; }

    /// <summary>
    /// The graph with every <c>Cast</c> to float32 of a float16/bfloat16 external initializer replaced by a float32
    /// initializer, and those initializers' values, read from <paramref name="externalDataFolder"/>; null (and the graph
    /// unchanged) when there is none. Initializers named in <paramref name="keep"/> (replaced by the session's weight
    /// overrides) stay as they are.
    /// </summary>
    /// <exception cref="WeightFileException">A weight file is missing or shorter than the graph says.</exception>
    public static WidenedWeights? Widen(ref byte[] graphBytes, string externalDataFolder, IReadOnlySet<string> keep)
        => Widen(ref graphBytes, externalDataFolder, keep, []);

    /// <summary>
    /// As <see cref="Widen(ref byte[], string, IReadOnlySet{string})"/>, where a weight that one of <paramref name="overrides"/>
    /// replaces (a LoRA merge, an enlarged token table) takes that replacement's float32 values in place instead of the file's:
    /// no typed copy, no graph input, no cast at run time. <see cref="ReplacedByOverrides"/> names them; the session applies
    /// the other replacements by name.
    /// </summary>
    public static WidenedWeights? Widen(ref byte[] graphBytes, string externalDataFolder, IReadOnlySet<string> keep,
        IReadOnlyList<Weights.WeightOverrides> overrides)
    {
        ModelProto model = ModelProto.Parser.ParseFrom(graphBytes);
        GraphProto graph = model.Graph;
        var index = new GraphWeightIndex(graph);
        var consumers = new Dictionary<string, List<(NodeProto Node, int Input)>>(StringComparer.Ordinal);
        foreach (NodeProto node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (!consumers.TryGetValue(node.Input[i], out List<(NodeProto, int)>? list))
                    consumers[node.Input[i]] = list = [];
                list.Add((node, i));
            }
        }

        var candidates = new List<(NodeProto Cast, TensorProto Source, long Elements)>();
        long total = 0;
        foreach (NodeProto node in graph.Node)
        {
            if (node.OpType != "Cast" || node.Output.Count != 1
                || !index.TryGetConstantWeight(node.Output[0], keep, embeddedAllowed: false, out NodeProto? cast, out TensorProto source, sharedValue: true) || cast != node
                || !consumers.TryGetValue(node.Output[0], out List<(NodeProto Node, int Input)>? readers) || !readers.All(IsWeightInput))
                continue;
            (string location, long offset, long length) = GraphWeightReader.ExternalData(source);
            long elements = source.Dims.Aggregate(1L, (a, b) => a * b);
            if (length != elements * 2 || offset < 0)
                throw new WeightFileException(Path.Combine(externalDataFolder, location), source.Name,
                    $"holds {length} bytes at offset {offset}, not the {elements * 2} of its shape."); // checked before anything is allocated
            candidates.Add((node, source, elements));
            if (!IsOverridden(overrides, source.Name))
                total += Align(elements * sizeof(float));
        }
        if (candidates.Count == 0)
            return null;

        var widened = new WidenedWeights { Memory = total > 0 ? HugePageMemory.Allocate(total) : null, Bytes = total };
        using var reader = new GraphWeightReader(externalDataFolder);
        try
        {
            long position = 0;
            foreach ((NodeProto cast, TensorProto source, long elements) in candidates)
            {
                var placeholder = source.Clone();
                placeholder.Name = cast.Output[0];
                placeholder.DataType = (int)TensorProto.Types.DataType.Float;
                graph.Initializer.Add(placeholder);
                if (TryGetOverride(overrides, source.Name, out float[] replaced, out long[] replacedShape))
                {
                    // The replacement may be larger than the file's tensor (textual inversion adds token rows).
                    placeholder.Dims.Clear();
                    placeholder.Dims.AddRange(replacedShape);
                    widened.Supply(placeholder.Name, OrtValue.CreateTensorValueFromMemory(replaced, replacedShape));
                    widened._replaced.Add(source.Name);
                    continue;
                }
                nint address = widened.Memory!.Address + (nint)position;
                unsafe
                {
                    reader.Read(source, new Span<float>((void*)address, checked((int)elements)));
                }
                position += Align(elements * sizeof(float));

                widened.Supply(placeholder.Name, OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                    source.Dims.ToArray(), address, elements * sizeof(float)));
            }
        }
        catch
        {
            widened.Dispose();
            throw;
        }
        var removedNodes = new HashSet<NodeProto>(candidates.Select(c => c.Cast));
        var removedInitializers = new HashSet<string>(candidates.Select(c => c.Source.Name), StringComparer.Ordinal);
        GraphEdit.Apply(graph, node => removedNodes.Contains(node) ? [] : [node], removedInitializers);
        graphBytes = model.ToByteArray();
        return widened;
    }

    private static bool IsOverridden(IReadOnlyList<Weights.WeightOverrides> overrides, string name) => TryGetOverride(overrides, name, out _, out _);

    private static bool TryGetOverride(IReadOnlyList<Weights.WeightOverrides> overrides, string name, out float[] values, out long[] shape)
    {
        foreach (Weights.WeightOverrides set in overrides)
        {
            if (set.TryGetWidened(name, out values, out shape))
                return true;
        }
        (values, shape) = (null!, null!);
        return false;
    }

    /// <summary>
    /// The weight input of a node that multiplies by it (Gemm/MatMul/Conv B/W, Gather's table): ONNX Runtime's optimisers do
    /// not read these at levels BASIC and EXTENDED, where a norm's scale or a bias may be folded into a constant (which
    /// reads the value from the file: the placeholder would fail the session).
    /// </summary>
    private static bool IsWeightInput((NodeProto Node, int Input) use) => use.Node.Domain.Length == 0 && (use.Node.OpType, use.Input) switch
    {
        ("Gemm", 1) or ("MatMul", 1) or ("Conv", 1) or ("ConvTranspose", 1) or ("Gather", 0) => true,
        _ => false,
    };
}
