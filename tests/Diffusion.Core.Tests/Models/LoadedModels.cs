using System.Collections.Concurrent;
using Diffusion.Core.Models;

namespace Diffusion.Core.Tests.Models;

/// <summary>
/// Class fixture that loads each model once per test class (sessions take a few hundred ms to create);
/// tests of one class run one at a time, so sharing the wrappers is safe.
/// </summary>
public sealed class LoadedModels : IDisposable
{
    private readonly ConcurrentDictionary<string, OnnxModel> _models = new(StringComparer.Ordinal);

    public T Get<T>(string path, Func<string, T> load) where T : OnnxModel
        => (T)_models.GetOrAdd(path, p => load(p));

    public void Dispose()
    {
        foreach (OnnxModel model in _models.Values)
            model.Dispose();
    }
}
