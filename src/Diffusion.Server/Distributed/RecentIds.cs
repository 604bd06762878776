namespace Diffusion.Server.Distributed;

/// <summary>The last <c>capacity</c> ids seen (a worker's memory of cancelled jobs, bounded however many are cancelled).</summary>
internal sealed class RecentIds(int capacity)
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public void Add(string id)
    {
        lock (_gate)
        {
            if (!_ids.Add(id))
                return;
            _order.Enqueue(id);
            if (_order.Count > capacity)
                _ids.Remove(_order.Dequeue());
        }
    }

    public bool Contains(string id)
    {
        lock (_gate)
            return _ids.Contains(id);
    }
}
