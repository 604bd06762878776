namespace Diffusion.Hub.Tests;

/// <summary>An IProgress that reports on the caller's thread (Progress&lt;T&gt; posts later, after the test may have looked).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
