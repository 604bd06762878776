using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;
using System.Runtime.InteropServices;

namespace Diffusion.Core.Execution;

/// <summary>
/// Token ids fed from caller-owned int32 memory: bound straight over it for an int32 input, or copied
/// into a cached int64 buffer for an int64 input (Optimum exports). Rebinds only when the memory or the
/// shape changes.
/// </summary>
internal sealed class BoundTokenTensor : IDisposable
{
    private readonly string _name;
    private readonly bool _isInt64;
    private ReadOnlyMemory<int> _boundMemory;
    private long[] _shape = [];
    private OrtValue? _value;
    private long[] _wide = [];
    private int _wideCount = -1;

    public BoundTokenTensor(TensorSpec spec)
    {
        if (spec.ElementKind is not (TensorElementKind.Int32 or TensorElementKind.Int64))
            throw new ArgumentException($"'{spec.Name}' is {spec.ElementKind}, not an integer tensor.", nameof(spec));
        _name = spec.Name;
        _isInt64 = spec.ElementKind == TensorElementKind.Int64;
    }

    public void Bind(OrtIoBinding binding, ReadOnlyMemory<int> tokenIds, ReadOnlySpan<long> shape)
    {
        bool shapeChanged = !shape.SequenceEqual(_shape);
        if (shapeChanged)
            _shape = shape.ToArray();
        OrtValue? created = null;
        if (_isInt64)
        {
            int count = tokenIds.Length;
            bool scratchChanged = false;
            if (_wide.Length < count)
            {
                _wide = new long[count];
                scratchChanged = true;
            }
            ReadOnlySpan<int> source = tokenIds.Span;
            Span<long> destination = _wide.AsSpan(0, count);
            for (int i = 0; i < source.Length; i++)
                destination[i] = source[i];
            if (_value is null || shapeChanged || scratchChanged || count != _wideCount)
            {
                _wideCount = count;
                created = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<long>(_wide, 0, count), _shape);
            }
        }
        else if (_value is null || shapeChanged || !tokenIds.Equals(_boundMemory))
        {
            _boundMemory = tokenIds;
            // ONNX Runtime only reads inputs, so viewing the read-only memory as writable is safe.
            created = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, MemoryMarshal.AsMemory(tokenIds), _shape);
        }
        if (created is not null)
        {
            binding.BindInput(_name, created);
            _value?.Dispose();
            _value = created;
        }
    }

    public void Dispose()
    {
        _value?.Dispose();
        _value = null;
        _boundMemory = default;
    }
}
