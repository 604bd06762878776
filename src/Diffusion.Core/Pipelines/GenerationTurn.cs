using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// One generation at a time on a pipeline, and a dispose that waits for it: calls enter in turn (a waiting call honours
/// its token), <see cref="Dispose"/> cancels the running call through <see cref="DisposeToken"/>, refuses the waiting
/// ones, waits for the running one to leave, then releases the models. From inside the running call (a progress
/// callback) the release happens when that call leaves instead.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification =
    "The semaphore and token source outlive Dispose on purpose: a call that arrives later still links DisposeToken and must see it cancelled. Neither holds an OS handle here (no WaitHandle is requested).")]
internal sealed class GenerationTurn
{
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly CancellationTokenSource _disposing = new();
    private readonly object _lifetime = new();
    private int _runningThreadId;
    private bool _releaseWhenIdle;

    /// <summary>True once <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Cancelled by <see cref="Dispose"/>: link it into each call's token.</summary>
    public CancellationToken DisposeToken => _disposing.Token;

    /// <summary>
    /// Runs one call in its turn: waits for the turn with <paramref name="cancellationToken"/> linked to
    /// <see cref="DisposeToken"/>, runs <paramref name="call"/> with the linked token and run options whose terminate flag
    /// that token sets (so a running model stops), leaves the turn. A call that the pipeline's disposal cancelled (while
    /// waiting or running) ends with <see cref="ObjectDisposedException"/>, one that its own token cancelled with
    /// <see cref="OperationCanceledException"/> (also when ONNX Runtime reports the terminated run as its own error).
    /// </summary>
    public T Run<T>(string ownerName, Func<CancellationToken, RunOptions, T> call, Action release, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, DisposeToken);
        try
        {
            Enter(ownerName, linked.Token);
        }
        catch (OperationCanceledException) when (IsDisposed && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(ownerName, "The pipeline was disposed while this call waited for its turn.");
        }

        try
        {
            using var runOptions = new RunOptions();
            using CancellationTokenRegistration registration = linked.Token.Register(static state => ((RunOptions)state!).Terminate = true, runOptions);
            try
            {
                return call(linked.Token, runOptions);
            }
            catch (OnnxRuntimeException ex) when (linked.Token.IsCancellationRequested)
            {
                throw new OperationCanceledException("The generation was cancelled while a model was running.", ex, linked.Token);
            }
        }
        catch (OperationCanceledException) when (IsDisposed && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(ownerName, "The pipeline was disposed during this call, which was cancelled.");
        }
        finally
        {
            Exit(release);
        }
    }

    /// <summary>Waits for the turn.</summary>
    /// <exception cref="InvalidOperationException">Called from inside the running call (re-entry would deadlock).</exception>
    /// <exception cref="ObjectDisposedException">Disposed before the turn came.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> (which includes <see cref="DisposeToken"/>) was cancelled while waiting.</exception>
    public void Enter(string ownerName, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _runningThreadId) == Environment.CurrentManagedThreadId)
            throw new InvalidOperationException("Generate was called from inside a progress callback of a call on the same pipeline; calls on one pipeline run one at a time.");
        _turn.Wait(cancellationToken);
        lock (_lifetime)
        {
            if (IsDisposed)
            {
                _turn.Release();
                throw new ObjectDisposedException(ownerName);
            }
            _runningThreadId = Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>Leaves the turn; runs <paramref name="release"/> first when the call itself asked for a dispose.</summary>
    public void Exit(Action release)
    {
        bool releaseNow;
        lock (_lifetime)
        {
            _runningThreadId = 0;
            releaseNow = _releaseWhenIdle;
        }
        if (releaseNow)
            release();
        _turn.Release();
    }

    /// <summary>Cancels and waits for the running call, then runs <paramref name="release"/> (once, whichever thread asks).</summary>
    public void Dispose(Action release)
    {
        lock (_lifetime)
        {
            if (IsDisposed)
                return;
            IsDisposed = true;
            if (_runningThreadId == Environment.CurrentManagedThreadId)
                _releaseWhenIdle = true;
        }
        _disposing.Cancel(); // terminates the running call's model run and wakes the waiting calls
        if (_releaseWhenIdle)
            return;
        _turn.Wait(); // the running call, if any, has left; nothing enters once disposed
        release();
        _turn.Release();
    }
}
