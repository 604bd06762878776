using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Execution;

/// <summary>
/// A session whose initializers live in memory this library supplied (<see cref="SessionOptions.AddInitializer"/>):
/// ONNX Runtime uses that memory in place, so it is released only after the session.
/// </summary>
internal sealed class WeightOwningSession : InferenceSession
{
    private IDisposable?[]? _weights;

    public WeightOwningSession(byte[] model, SessionOptions options, IDisposable?[] weights)
        : base(model, options) => _weights = weights;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            foreach (IDisposable? weights in _weights ?? [])
                weights?.Dispose();
            _weights = null;
        }
    }
}
