using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Weights;

/// <summary>
/// Replacement values for some initializers of one ONNX model (LoRA-merged weights, an enlarged token
/// embedding), each an <see cref="OrtValue"/> over memory this object owns and keeps pinned. Handed to ONNX
/// Runtime at session creation with <see cref="ApplyTo(Microsoft.ML.OnnxRuntime.SessionOptions)"/>; the model file is never modified.
/// </summary>
/// <remarks>
/// ONNX Runtime uses these buffers without copying them, so this object must outlive every session created
/// from options it was applied to: dispose it after those sessions. Values keep the element type of the
/// initializer they replace (float32, or float16 rounded to nearest even).
/// </remarks>
public sealed class WeightOverrides : IDisposable
{
    /// <summary>Session config entry listing graph transformers to skip (names separated by <c>;</c>).</summary>
    internal const string DisableOptimizersKey = "optimization.disable_specified_optimizers";

    /// <summary>ORT's NCHWc layout transformer pre-packs Conv weights from the model file and so ignores a
    /// Conv-weight override at the default optimisation level (measured on ORT 1.31.1, CPU; test
    /// <c>ConvWeightOverrideTakesEffectAtTheDefaultOptimizationLevel</c>).</summary>
    internal const string NchwcTransformer = "NchwcTransformer";

    /// <summary>ORT's level-4 transformer that converts a float16 model's initializers to float32 for CPU kernels
    /// reads them from the model file and so ignores every float16 override at <c>ORT_ENABLE_ALL</c> (measured on
    /// ORT 1.31.1, CPU; test <c>Float16ModelGetsFloat16OverridesCloseToTheFloat32Merge</c>).</summary>
    internal const string Fp16InitializerTransformer = "FuseFp16InitializerToFp32NodeTransformer";

    private readonly List<Entry> _entries = [];
    private readonly List<string> _names = [];
    private bool _disposed;

    internal WeightOverrides(string modelPath) => ModelPath = modelPath;

    /// <summary>The model whose initializers these replace.</summary>
    public string ModelPath { get; }

    /// <summary>Names of the replaced initializers, in the order they were added.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>Number of replaced initializers.</summary>
    public int Count => _entries.Count;

    /// <summary>True when a replaced initializer is a Conv weight (then <see cref="ApplyTo(Microsoft.ML.OnnxRuntime.SessionOptions)"/> disables the NCHWc transformer).</summary>
    public bool ContainsConvWeights { get; private set; }

    /// <summary>True when a replaced initializer is float16 (then <see cref="ApplyTo(Microsoft.ML.OnnxRuntime.SessionOptions)"/> disables ORT's float16-initializer fusion).</summary>
    public bool ContainsFloat16Weights { get; private set; }

    /// <summary>
    /// Adds every replacement to <paramref name="options"/> (<see cref="SessionOptions.AddInitializer"/>) and sets the
    /// session config entry <c>optimization.disable_specified_optimizers</c> to the ORT graph transformers that would
    /// otherwise silently keep the file's weights: <c>NchwcTransformer</c> when a Conv weight is replaced,
    /// <c>FuseFp16InitializerToFp32NodeTransformer</c> when a float16 weight is. Other optimisations stay on. The entry
    /// overwrites a value set earlier for the same key, so to combine several <see cref="WeightOverrides"/> for one
    /// session (a LoRA and a textual inversion on the text encoder) use <see cref="ApplyTo(SessionOptions, IReadOnlyList{WeightOverrides})"/>.
    /// </summary>
    /// <exception cref="ObjectDisposedException">This object was disposed.</exception>
    public void ApplyTo(SessionOptions options) => ApplyTo(options, [this]);

    /// <summary>
    /// Adds the replacements of all <paramref name="overrides"/> to <paramref name="options"/> and disables the graph
    /// transformers any of them needs disabled (see <see cref="ApplyTo(SessionOptions)"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Two of them replace the same initializer.</exception>
    /// <exception cref="ObjectDisposedException">One of them was disposed.</exception>
    public static void ApplyTo(SessionOptions options, IReadOnlyList<WeightOverrides> overrides) => ApplyTo(options, overrides, null);

    /// <summary>As <see cref="ApplyTo(SessionOptions, IReadOnlyList{WeightOverrides})"/>, leaving out the replacements named in
    /// <paramref name="handledElsewhere"/> (a built graph's widened weights, supplied in float32 by <see cref="Graphs.WidenedWeights"/>).</summary>
    internal static void ApplyTo(SessionOptions options, IReadOnlyList<WeightOverrides> overrides, IReadOnlySet<string>? handledElsewhere)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(overrides);
        var names = new HashSet<string>(StringComparer.Ordinal);
        bool conv = false, float16 = false;
        foreach (WeightOverrides set in overrides)
        {
            ObjectDisposedException.ThrowIf(set._disposed, set);
            foreach (string name in set._names)
            {
                if (!names.Add(name))
                    throw new ArgumentException($"initializer '{name}' is replaced by two of the weight overrides.", nameof(overrides));
            }
            conv |= set.ContainsConvWeights;
            float16 |= set.ContainsFloat16Weights;
        }
        bool any = false;
        foreach (WeightOverrides set in overrides)
        {
            foreach (Entry entry in set._entries)
            {
                if (handledElsewhere?.Contains(entry.Name) == true)
                    continue;
                options.AddInitializer(entry.Name, entry.GetOrCreateValue());
                any = true;
            }
        }
        if (!any)
            return;
        string? disabled = (conv, float16) switch
        {
            (true, true) => NchwcTransformer + ";" + Fp16InitializerTransformer,
            (true, false) => NchwcTransformer,
            (false, true) => Fp16InitializerTransformer,
            _ => null,
        };
        if (disabled is not null)
            options.AddSessionConfigEntry(DisableOptimizersKey, disabled);
    }

    /// <summary>Releases the <see cref="OrtValue"/>s and unpins their memory. Sessions created with them must be disposed first.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (Entry entry in _entries)
            entry.Value?.Dispose();
    }

    /// <summary>
    /// Adds a replacement: <paramref name="values"/> (kept, not copied) rounded in place to <paramref name="elementType"/>'s
    /// precision, so a session gets the same numbers whether they are handed over in that type (by name) or as the
    /// float32 a built graph's widened weight takes (<see cref="TryGetWidened"/>).
    /// </summary>
    internal void Add(string name, float[] values, long[] shape, TensorElementType elementType, bool isConvWeight)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_names.Contains(name))
            throw new InvalidOperationException($"initializer '{name}' is already overridden.");
        switch (elementType)
        {
            case TensorElementType.Float:
                break;
            case TensorElementType.Float16:
                RoundThroughHalf(values);
                break;
            case TensorElementType.BFloat16:
                for (int i = 0; i < values.Length; i++)
                    values[i] = BitConverter.UInt32BitsToSingle((uint)SingleToBFloat16(values[i]) << 16);
                break;
            default:
                throw new WeightFileException(ModelPath, name, $"cannot override a weight of element type {elementType} (expected float32, float16 or bfloat16).");
        }
        _entries.Add(new Entry(name, values, shape, elementType));
        _names.Add(name);
        ContainsConvWeights |= isConvWeight;
        ContainsFloat16Weights |= elementType == TensorElementType.Float16;
    }

    /// <summary>
    /// The float32 values and shape replacing <paramref name="name"/>, for a built graph that widens that weight itself
    /// (then the values are used in place, with no typed copy and no graph input); false when it is not replaced here.
    /// </summary>
    internal bool TryGetWidened(string name, out float[] values, out long[] shape)
    {
        foreach (Entry entry in _entries)
        {
            if (entry.Name == name)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                (values, shape) = (entry.Values, entry.Shape);
                return true;
            }
        }
        (values, shape) = (null!, null!);
        return false;
    }

    /// <summary>The replacement for <paramref name="name"/> widened to float32 (for tests and diagnostics).</summary>
    internal float[] ReadAsFloat32(string name)
        => TryGetWidened(name, out float[] values, out _) ? (float[])values.Clone() : throw new KeyNotFoundException(name);

    /// <summary>The element type a replacement is stored in.</summary>
    internal TensorElementType ElementTypeOf(string name)
    {
        foreach (Entry entry in _entries)
        {
            if (entry.Name == name)
                return entry.ElementType;
        }
        throw new KeyNotFoundException(name);
    }

    /// <summary>float32 → bfloat16 with round-to-nearest-even (NaN kept quiet).</summary>
    private static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    private static void RoundThroughHalf(Span<float> values)
    {
        Span<Half> halves = stackalloc Half[1024];
        for (int start = 0; start < values.Length; start += halves.Length)
        {
            Span<float> chunk = values.Slice(start, Math.Min(halves.Length, values.Length - start));
            TensorPrimitives.ConvertToHalf(chunk, halves[..chunk.Length]);
            TensorPrimitives.ConvertToSingle(halves[..chunk.Length], chunk);
        }
    }

    /// <summary>
    /// One replacement. <see cref="Value"/>, the values in the initializer's own element type for ONNX Runtime, is made
    /// only when the replacement is applied by name (<see cref="ApplyTo(SessionOptions)"/>).
    /// </summary>
    private sealed class Entry(string name, float[] values, long[] shape, TensorElementType elementType)
    {
        public string Name { get; } = name;
        public float[] Values { get; } = values;
        public long[] Shape { get; } = shape;
        public TensorElementType ElementType { get; } = elementType;
        public OrtValue? Value { get; private set; }

        public OrtValue GetOrCreateValue()
        {
            if (Value is not null)
                return Value;
            switch (ElementType)
            {
                case TensorElementType.Float16:
                    var halves = new Float16[Values.Length];
                    TensorPrimitives.ConvertToHalf(Values, MemoryMarshal.Cast<Float16, Half>(halves.AsSpan()));
                    return Value = OrtValue.CreateTensorValueFromMemory(halves, Shape);
                case TensorElementType.BFloat16:
                    var brains = new BFloat16[Values.Length];
                    Span<ushort> bits = MemoryMarshal.Cast<BFloat16, ushort>(brains.AsSpan());
                    for (int i = 0; i < Values.Length; i++)
                        bits[i] = (ushort)(BitConverter.SingleToUInt32Bits(Values[i]) >> 16); // already rounded to bfloat16
                    return Value = OrtValue.CreateTensorValueFromMemory(brains, Shape);
                default:
                    return Value = OrtValue.CreateTensorValueFromMemory(Values, Shape);
            }
        }
    }
}
