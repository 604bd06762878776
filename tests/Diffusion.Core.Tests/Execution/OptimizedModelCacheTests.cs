using Diffusion.Core.Execution;
using Microsoft.ML.OnnxRuntime;
using Outcome = Diffusion.Core.Execution.OptimizedModelCache.CacheOutcome;

namespace Diffusion.Core.Tests.Execution;

/// <summary>
/// The optimised-graph cache on the demo model's UNet (copied to a temporary folder so the tests can change it): a
/// second load is a hit with bit-identical outputs; a changed model file or option gets its own entry; a truncated or
/// corrupted entry is rebuilt; nothing half-written is left behind.
/// </summary>
public sealed class OptimizedModelCacheTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-ort-cache-").FullName;
    private readonly string _model;
    private readonly string _cache;

    public OptimizedModelCacheTests()
    {
        string demo = Path.Combine(Diffusion.Testing.SharedData.RepositoryRoot()!.FullName, "models", "demo-shapes", "unet", "model.onnx");
        Directory.CreateDirectory(Path.Combine(_folder, "unet"));
        _model = Path.Combine(_folder, "unet", "model.onnx");
        File.Copy(demo, _model);
        _cache = Path.Combine(_folder, "cache");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private SessionSettings Settings(GraphOptimizationLevel? level = null) =>
        new() { IntraOpThreads = 1, OptimizedModelCache = _cache, GraphOptimizationLevel = level };

    private static float[] Run(InferenceSession session)
    {
        var random = new Random(3);
        float[] sample = [.. Enumerable.Range(0, 2 * 4 * 8 * 8).Select(_ => (float)random.NextDouble())];
        float[] context = [.. Enumerable.Range(0, 2 * 77 * 64).Select(_ => (float)random.NextDouble() - 0.5f)];
        using var x = OrtValue.CreateTensorValueFromMemory(sample, [2, 4, 8, 8]);
        using var t = OrtValue.CreateTensorValueFromMemory(new[] { 500f, 500f }, [2]);
        using var c = OrtValue.CreateTensorValueFromMemory(context, [2, 77, 64]);
        using var outputs = session.Run(new RunOptions(), ["sample", "timestep", "encoder_hidden_states"], [x, t, c], [session.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private (float[] Output, Outcome Outcome) Load(SessionSettings settings)
    {
        using InferenceSession session = SessionFactory.Create(_model, settings);
        Outcome outcome = OptimizedModelCache.LastOutcome;
        return (Run(session), outcome);
    }

    private string[] Entries() => Directory.Exists(_cache) ? Directory.GetDirectories(_cache) : [];

    [Fact]
    public void A_second_load_uses_the_entry_and_gives_bit_identical_outputs()
    {
        float[] uncached;
        using (InferenceSession session = SessionFactory.Create(_model, new SessionSettings { IntraOpThreads = 1 }))
            uncached = Run(session);

        (float[] first, Outcome written) = Load(Settings());
        (float[] second, Outcome hit) = Load(Settings());

        Assert.Equal(Outcome.Written, written);
        Assert.Equal(Outcome.Hit, hit);
        Assert.Equal(uncached, first);
        Assert.Equal(uncached, second);
        string entry = Assert.Single(Entries());
        Assert.True(File.Exists(Path.Combine(entry, OptimizedModelCache.ManifestFile)));
        Assert.True(File.Exists(Path.Combine(entry, OptimizedModelCache.DataFile)), "the weights are kept outside the graph");
    }

    [Fact]
    public void A_changed_option_or_model_file_gets_its_own_entry()
    {
        Assert.Equal(Outcome.Written, Load(Settings()).Outcome);
        Assert.Equal(Outcome.Written, Load(Settings(GraphOptimizationLevel.ORT_ENABLE_BASIC)).Outcome);
        Assert.Equal(Outcome.Hit, Load(Settings(GraphOptimizationLevel.ORT_ENABLE_BASIC)).Outcome);
        Assert.Equal(2, Entries().Length);

        // The same bytes written again (a re-download): a new modification time is a new model as far as the key goes.
        File.SetLastWriteTimeUtc(_model, DateTime.UtcNow.AddMinutes(1));
        Assert.Equal(Outcome.Written, Load(Settings()).Outcome);
        Assert.Equal(3, Entries().Length);
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("flip")]
    [InlineData("manifest")]
    [InlineData("missing")]
    public void A_damaged_entry_is_detected_and_rebuilt(string damage)
    {
        (float[] expected, _) = Load(Settings());
        string entry = Assert.Single(Entries());
        string data = Path.Combine(entry, OptimizedModelCache.DataFile);
        switch (damage)
        {
            case "truncate":
                using (var stream = new FileStream(data, FileMode.Open))
                    stream.SetLength(stream.Length / 2);
                break;
            case "flip":
                byte[] bytes = File.ReadAllBytes(data);
                bytes[bytes.Length / 2] ^= 0x40;
                File.WriteAllBytes(data, bytes);
                break;
            case "manifest":
                File.WriteAllText(Path.Combine(entry, OptimizedModelCache.ManifestFile), "{\"Version\": 1, \"Files\": [");
                break;
            case "missing":
                File.Delete(Path.Combine(entry, OptimizedModelCache.GraphFile));
                break;
        }

        (float[] rebuilt, Outcome outcome) = Load(Settings());

        Assert.Equal(Outcome.Written, outcome);
        Assert.Equal(expected, rebuilt);
        Assert.Equal(Outcome.Hit, Load(Settings()).Outcome);
    }

    [Fact]
    public void A_model_that_fails_to_load_leaves_no_temporary_folder()
    {
        File.WriteAllBytes(_model, [1, 2, 3, 4]);
        Assert.Throws<ModelLoadException>(() => SessionFactory.Create(_model, Settings()));
        Assert.Empty(Directory.Exists(_cache) ? Directory.GetFileSystemEntries(_cache) : []);
    }

    [Fact]
    public void A_temporary_folder_left_by_a_killed_process_is_removed_by_the_next_write()
    {
        Load(Settings());
        string entry = Assert.Single(Entries());
        Directory.Delete(entry, recursive: true);
        // A process id that cannot be running (above Linux's pid_max and Windows' range in practice).
        string stale = $"{entry}.tmp-2147483000-{Guid.NewGuid():N}";
        Directory.CreateDirectory(stale);
        File.WriteAllBytes(Path.Combine(stale, OptimizedModelCache.GraphFile), [1, 2, 3]);

        Assert.Equal(Outcome.Written, Load(Settings()).Outcome);
        Assert.False(Directory.Exists(stale));
        Assert.Equal([entry], Directory.GetFileSystemEntries(_cache));
    }
}
