using Diffusion.Core.Models;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Execution;

/// <summary>
/// One float input or output of a model, fed from / written to caller-owned float32 memory through an
/// <see cref="OrtIoBinding"/>. A float32 tensor is bound straight over the caller's memory (pinned while
/// bound, no copy); a float16 tensor goes through a cached half-precision scratch buffer. The
/// <see cref="OrtValue"/> and the binding are only rebuilt when the caller passes different memory or a
/// different shape, so a loop that reuses its buffers makes no per-call allocations.
/// </summary>
internal sealed class BoundFloatTensor : IDisposable
{
    private readonly string _name;
    private readonly bool _isFloat16;
    private readonly bool _isOutput;
    private Memory<float> _boundMemory;
    private Memory<float> _pendingOutput;
    private long[] _shape = [];
    private OrtValue? _value;
    private Float16[] _halfScratch = [];
    private int _halfCount = -1;

    public BoundFloatTensor(TensorSpec spec, bool isOutput)
    {
        if (spec.ElementKind is not (TensorElementKind.Float32 or TensorElementKind.Float16))
            throw new ArgumentException($"'{spec.Name}' is {spec.ElementKind}, not a float tensor.", nameof(spec));
        _name = spec.Name;
        _isFloat16 = spec.ElementKind == TensorElementKind.Float16;
        _isOutput = isOutput;
    }

    /// <summary>Binds <paramref name="memory"/> with <paramref name="shape"/>; for a float16 input, converts it now.</summary>
    public void Bind(OrtIoBinding binding, Memory<float> memory, ReadOnlySpan<long> shape)
    {
        bool shapeChanged = !shape.SequenceEqual(_shape);
        if (shapeChanged)
            _shape = shape.ToArray();
        if (_isFloat16)
        {
            int count = memory.Length;
            bool scratchChanged = false;
            if (_halfScratch.Length < count)
            {
                _halfScratch = new Float16[count];
                scratchChanged = true;
            }
            if (_isOutput)
                _pendingOutput = memory;
            else
                Float16Conversion.ToFloat16(memory.Span, _halfScratch.AsSpan(0, count));
            if (_value is null || shapeChanged || scratchChanged || count != _halfCount)
            {
                _halfCount = count;
                Rebind(binding, OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<Float16>(_halfScratch, 0, count), _shape));
            }
        }
        else if (_value is null || shapeChanged || !memory.Equals(_boundMemory))
        {
            _boundMemory = memory;
            Rebind(binding, OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memory, _shape));
        }
    }

    /// <summary>After a run: copies a float16 output into the caller's float32 memory (a float32 output is already there).</summary>
    public void CompleteOutput()
    {
        if (!_isFloat16 || !_isOutput)
            return;
        Float16Conversion.ToSingle(_halfScratch.AsSpan(0, _halfCount), _pendingOutput.Span);
        _pendingOutput = default; // do not keep the caller's buffer alive
    }

    private void Rebind(OrtIoBinding binding, OrtValue value)
    {
        if (_isOutput)
            binding.BindOutput(_name, value);
        else
            binding.BindInput(_name, value);
        // The binding holds its own reference to the native value; ours keeps the memory pinned.
        _value?.Dispose();
        _value = value;
    }

    public void Dispose()
    {
        _value?.Dispose();
        _value = null;
        _boundMemory = default;
        _pendingOutput = default;
    }
}
