using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Diffusion.Core.Graphs.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.Win32.SafeHandles;
using Diffusion.Core.Execution;
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
internal sealed class WidenedWeights : IDisposable
{
    private const int ChunkElements = 1 << 20;
    private readonly List<(string Name, OrtValue Value)> _values = [];
    private readonly HashSet<string> _replaced = new(StringComparer.Ordinal);
    private HugePageMemory? _memory;
    private bool _disposed;

    private WidenedWeights()
    {
    }

    /// <summary>Number of weights widened.</summary>
    public int Count => _values.Count;

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
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (TensorProto tensor in graph.Initializer)
            initializers[tensor.Name] = tensor;
        var uses = new Dictionary<string, int>(StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<(NodeProto Node, int Input)>>(StringComparer.Ordinal);
        foreach (NodeProto node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                string input = node.Input[i];
                uses[input] = uses.GetValueOrDefault(input) + 1;
                if (!consumers.TryGetValue(input, out List<(NodeProto, int)>? list))
                    consumers[input] = list = [];
                list.Add((node, i));
            }
        }
        var graphInputs = new HashSet<string>(graph.Input.Select(i => i.Name), StringComparer.Ordinal);

        var candidates = new List<(NodeProto Cast, TensorProto Source, string Path, long Offset, long Elements)>();
        long total = 0;
        foreach (NodeProto node in graph.Node)
        {
            if (!IsWideningCast(node, initializers, uses, graphInputs, keep, out TensorProto? source)
                || !consumers.TryGetValue(node.Output[0], out List<(NodeProto Node, int Input)>? readers) || !readers.All(IsWeightInput))
                continue;
            (string location, long offset, long length) = ExternalData(source!);
            long elements = source!.Dims.Aggregate(1L, (a, b) => a * b);
            string path = Path.Combine(externalDataFolder, location);
            if (length != elements * 2 || offset < 0)
                throw new WeightFileException(path, source.Name, $"holds {length} bytes at offset {offset}, not the {elements * 2} of its shape.");
            candidates.Add((node, source, path, offset, elements));
            if (!IsOverridden(overrides, source.Name))
                total += Align(elements * sizeof(float));
        }
        if (candidates.Count == 0)
            return null;

        var widened = new WidenedWeights { _memory = total > 0 ? HugePageMemory.Allocate(total) : null, Bytes = total };
        var handles = new Dictionary<string, SafeFileHandle>(StringComparer.Ordinal);
        try
        {
            long position = 0;
            foreach ((NodeProto cast, TensorProto source, string path, long offset, long elements) in candidates)
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
                    widened._values.Add((placeholder.Name, OrtValue.CreateTensorValueFromMemory(replaced, replacedShape)));
                    widened._replaced.Add(source.Name);
                    continue;
                }
                if (!handles.TryGetValue(path, out SafeFileHandle? handle))
                {
                    if (!File.Exists(path))
                        throw new WeightFileException(path, source.Name, "the weight file is missing.");
                    handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
                    handles.Add(path, handle);
                }
                if (offset + elements * 2 > RandomAccess.GetLength(handle))
                    throw new WeightFileException(path, source.Name, "its data lies past the file's end.");
                nint address = widened._memory!.Address + (nint)position;
                Read(handle, offset, address, elements, source.DataType == (int)TensorProto.Types.DataType.Bfloat16, path, source.Name);
                position += Align(elements * sizeof(float));

                widened._values.Add((placeholder.Name, OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                    source.Dims.ToArray(), address, elements * sizeof(float))));
            }
        }
        catch
        {
            widened.Dispose();
            throw;
        }
        finally
        {
            foreach (SafeFileHandle handle in handles.Values)
                handle.Dispose();
        }
        var removedNodes = new HashSet<NodeProto>(candidates.Select(c => c.Cast));
        var removedInitializers = new HashSet<string>(candidates.Select(c => c.Source.Name), StringComparer.Ordinal);
        var keptNodes = graph.Node.Where(n => !removedNodes.Contains(n)).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(keptNodes);
        var keptInitializers = graph.Initializer.Where(t => !removedInitializers.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(keptInitializers);
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

    /// <summary>Hands every value to <paramref name="options"/>; this object must outlive the session made with them.</summary>
    public void ApplyTo(SessionOptions options)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach ((string name, OrtValue value) in _values)
            options.AddInitializer(name, value);
    }

    /// <summary>Releases the values; the session created with them must be disposed first.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach ((_, OrtValue value) in _values)
            value.Dispose();
        _values.Clear();
        _memory?.Dispose();
        _memory = null;
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

    /// <summary>A Cast to float32 whose only input is a half-precision external initializer used by nothing else.</summary>
    private static bool IsWideningCast(NodeProto node, Dictionary<string, TensorProto> initializers, Dictionary<string, int> uses,
        HashSet<string> graphInputs, IReadOnlySet<string> keep, out TensorProto? source)
    {
        source = null;
        if (node.OpType != "Cast" || node.Domain.Length != 0 || node.Input.Count != 1 || node.Output.Count != 1
            || node.Attribute.FirstOrDefault(a => a.Name == "to") is not { I: (long)TensorProto.Types.DataType.Float })
            return false;
        string name = node.Input[0];
        if (!initializers.TryGetValue(name, out TensorProto? tensor) || uses.GetValueOrDefault(name) != 1 || graphInputs.Contains(name) || keep.Contains(name)
            || tensor.DataLocation != TensorProto.Types.DataLocation.External
            || tensor.DataType is not ((int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16))
            return false;
        source = tensor;
        return true;
    }

    internal static (string Location, long Offset, long Length) ExternalData(TensorProto tensor)
    {
        string location = string.Empty;
        long offset = 0, length = -1;
        foreach (StringStringEntryProto entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location": location = entry.Value; break;
                case "offset": offset = long.Parse(entry.Value, CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(entry.Value, CultureInfo.InvariantCulture); break;
            }
        }
        return (location, offset, length);
    }

    /// <summary>Each weight starts on a 64-byte boundary (a cache line, and what ORT's kernels prefer).</summary>
    internal static long Align(long bytes) => (bytes + 63) & ~63L;

    /// <summary>Reads <paramref name="elements"/> half-precision values in chunks and widens each chunk into <paramref name="destination"/>.</summary>
    internal static unsafe void Read(SafeFileHandle handle, long offset, nint destination, long elements, bool bfloat16, string path, string name)
    {
        ushort[] chunk = new ushort[(int)Math.Min(ChunkElements, elements)];
        for (long start = 0; start < elements; start += chunk.Length)
        {
            int count = (int)Math.Min(chunk.Length, elements - start);
            Span<byte> bytes = MemoryMarshal.AsBytes(chunk.AsSpan(0, count));
            for (int read = 0; read < bytes.Length;)
            {
                int n = RandomAccess.Read(handle, bytes[read..], offset + start * 2 + read);
                if (n == 0)
                    throw new WeightFileException(path, name, "the file ended inside this tensor's data.");
                read += n;
            }
            var target = new Span<float>((float*)destination + start, count);
            if (bfloat16)
            {
                // bfloat16 is the top half of a float32: widening is a shift.
                Span<uint> bits = MemoryMarshal.Cast<float, uint>(target);
                for (int i = 0; i < count; i++)
                    bits[i] = (uint)chunk[i] << 16;
            }
            else
            {
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(chunk.AsSpan(0, count)), target);
            }
        }
    }
}
