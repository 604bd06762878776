using Diffusion.Core.Models;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Execution;

/// <summary>
/// An input that carries one number repeated over its shape (a UNet timestep: 0-D, <c>[1]</c> or
/// <c>[batch]</c>), in the element type the model declares: float32, float16, int64 or int32.
/// The value is written into a cached buffer each call; the <see cref="OrtValue"/> is only rebuilt
/// when the shape changes.
/// </summary>
internal sealed class BoundScalarTensor : IDisposable
{
    private readonly string _name;
    private readonly TensorElementKind _kind;
    private long[]? _shape;
    private OrtValue? _value;
    private float[] _single = [];
    private Float16[] _half = [];
    private long[] _int64 = [];
    private int[] _int32 = [];

    public BoundScalarTensor(TensorSpec spec)
    {
        if (spec.ElementKind == TensorElementKind.Other)
            throw new ArgumentException($"'{spec.Name}' has an unsupported element type.", nameof(spec));
        _name = spec.Name;
        _kind = spec.ElementKind;
    }

    /// <summary>
    /// Fills the tensor with <paramref name="value"/> and binds it. Integer types take the value truncated
    /// toward zero, as numpy's <c>np.array([t], dtype=np.int64)</c> does in diffusers' ONNX pipeline.
    /// </summary>
    public void Bind(OrtIoBinding binding, float value, ReadOnlySpan<long> shape)
    {
        bool rebuild = _value is null || _shape is null || !shape.SequenceEqual(_shape);
        int count = TensorShape.ElementCount(shape);
        if (rebuild)
            _shape = shape.ToArray();
        OrtValue? created = null;
        switch (_kind)
        {
            case TensorElementKind.Float32:
                if (rebuild)
                    created = OrtValue.CreateTensorValueFromMemory(_single = new float[count], _shape!);
                _single.AsSpan().Fill(value);
                break;
            case TensorElementKind.Float16:
                if (rebuild)
                    created = OrtValue.CreateTensorValueFromMemory(_half = new Float16[count], _shape!);
                _half.AsSpan().Fill((Float16)value);
                break;
            case TensorElementKind.Int64:
                if (rebuild)
                    created = OrtValue.CreateTensorValueFromMemory(_int64 = new long[count], _shape!);
                _int64.AsSpan().Fill((long)value);
                break;
            default:
                if (rebuild)
                    created = OrtValue.CreateTensorValueFromMemory(_int32 = new int[count], _shape!);
                _int32.AsSpan().Fill((int)value);
                break;
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
    }
}
