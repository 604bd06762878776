using System.Buffers;

namespace Diffusion.Core.Tokenization;

/// <summary>A growable list of token ids on pooled arrays, so encoding allocates no list per call.</summary>
internal struct IdBuffer : IDisposable
{
    private int[] _items;

    /// <summary>Creates a buffer with room for <paramref name="capacity"/> ids.</summary>
    public IdBuffer(int capacity)
    {
        _items = ArrayPool<int>.Shared.Rent(Math.Max(capacity, 16));
        Count = 0;
    }

    /// <summary>How many ids were added.</summary>
    public int Count { get; private set; }

    /// <summary>The ids added so far.</summary>
    public readonly ReadOnlySpan<int> Items => _items.AsSpan(0, Count);

    /// <summary>Appends one id.</summary>
    public void Add(int id)
    {
        if (Count == _items.Length)
            Grow(Count + 1);
        _items[Count++] = id;
    }

    /// <summary>Appends <paramref name="ids"/>.</summary>
    public void AddRange(ReadOnlySpan<int> ids)
    {
        if (Count + ids.Length > _items.Length)
            Grow(Count + ids.Length);
        ids.CopyTo(_items.AsSpan(Count));
        Count += ids.Length;
    }

    /// <summary>Returns the array to the pool.</summary>
    public void Dispose()
    {
        if (_items.Length > 0)
            ArrayPool<int>.Shared.Return(_items);
        _items = [];
        Count = 0;
    }

    private void Grow(int needed)
    {
        int[] larger = ArrayPool<int>.Shared.Rent(Math.Max(needed, _items.Length * 2));
        _items.AsSpan(0, Count).CopyTo(larger);
        ArrayPool<int>.Shared.Return(_items);
        _items = larger;
    }
}
