namespace Diffusion.Core.Schedulers;

/// <summary>
/// A scheduler's scratch buffers: slot i holds one float array of the current sample length, allocated the first time
/// it is asked for and kept until the length changes (which drops every slot), so steadily stepping one sample size
/// never allocates.
/// </summary>
internal sealed class ScratchBuffers
{
    private float[]?[] _slots = [];
    private int _length = -1;

    /// <summary>The buffer of slot <paramref name="slot"/> at <paramref name="length"/> floats.</summary>
    public Span<float> Get(int slot, int length)
    {
        if (length != _length)
        {
            Array.Clear(_slots);
            _length = length;
        }
        if (slot >= _slots.Length)
            Array.Resize(ref _slots, slot + 1);
        return _slots[slot] ??= new float[length];
    }

    /// <summary>True when slot <paramref name="slot"/> already holds a buffer of <paramref name="length"/> floats.</summary>
    public bool Has(int slot, int length) => length == _length && slot < _slots.Length && _slots[slot] is not null;
}
