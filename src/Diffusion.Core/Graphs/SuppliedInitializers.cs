using Diffusion.Core.Execution;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Initializers whose values this library makes at load (widened or quantised weights) in memory it owns, handed to a
/// session with <see cref="SessionOptions.AddInitializer"/>. ONNX Runtime uses that memory in place, so this object is
/// disposed after the session (<see cref="WeightOwningSession"/> does).
/// </summary>
internal abstract class SuppliedInitializers : IDisposable
{
    private readonly List<(string Name, OrtValue Value)> _values = [];
    private bool _disposed;

    /// <summary>The block the values live in (null when every value lives elsewhere).</summary>
    protected HugePageMemory? Memory { get; set; }

    /// <summary>Number of values supplied.</summary>
    protected int SuppliedCount => _values.Count;

    /// <summary>Each supplied tensor starts on a 64-byte boundary (a cache line, and what ORT's kernels prefer).</summary>
    internal static long Align(long bytes) => (bytes + 63) & ~63L;

    /// <summary>Adds a value for the initializer <paramref name="name"/>; disposed with this object.</summary>
    protected void Supply(string name, OrtValue value) => _values.Add((name, value));

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
        Memory?.Dispose();
        Memory = null;
    }
}
