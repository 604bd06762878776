using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Execution;

/// <summary>
/// Creates ONNX Runtime sessions from model file paths with <see cref="SessionSettings"/>. Loading from
/// the path (not from bytes) lets ONNX Runtime find external weight files next to the model
/// (<c>weights.pb</c>, <c>model.onnx_data</c>), as large diffusers exports use.
/// </summary>
/// <remarks>
/// The execution provider is checked before any model is read, so a missing GPU package fails fast with
/// <see cref="ExecutionProviderUnavailableException"/> instead of after seconds of loading weights.
/// </remarks>
public static class SessionFactory
{
    private static long s_sessionsCreated;

    [ThreadStatic]
    private static long t_sessionsCreatedOnThisThread;

    /// <summary>How many sessions this process has created through the factory (lets tests prove sessions are reused).</summary>
    internal static long SessionsCreated => Interlocked.Read(ref s_sessionsCreated);

    /// <summary>Sessions created by the calling thread (unaffected by tests running in parallel on other threads).</summary>
    internal static long SessionsCreatedOnCurrentThread => t_sessionsCreatedOnThisThread;

    /// <summary>
    /// Checks that the native ONNX Runtime the application loaded offers <paramref name="provider"/>.
    /// Call it up-front (e.g. when parsing a <c>--provider</c> option) to report a missing package early.
    /// </summary>
    /// <exception cref="ExecutionProviderUnavailableException">
    /// The provider is not in <c>OrtEnv.GetAvailableProviders()</c>, or no native ONNX Runtime could be loaded at all.
    /// </exception>
    public static void EnsureAvailable(ExecutionProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        string[] available;
        try
        {
            available = OrtEnv.Instance().GetAvailableProviders();
        }
        catch (Exception ex) when (ex is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException)
        {
            // Only the managed package is referenced: there is no native onnxruntime library to load.
            throw new ExecutionProviderUnavailableException(provider, "no native ONNX Runtime library could be loaded.", ex);
        }
        if (Array.IndexOf(available, provider.OrtProviderName) < 0)
            throw new ExecutionProviderUnavailableException(provider, $"the loaded ONNX Runtime offers only {string.Join(", ", available)}.");
    }

    /// <summary>
    /// Creates a session for the model at <paramref name="modelPath"/>. The caller owns (and disposes) the session.
    /// </summary>
    /// <exception cref="InvalidOptionException">A setting is out of range.</exception>
    /// <exception cref="ExecutionProviderUnavailableException">The provider is not available; no model was read.</exception>
    /// <exception cref="ModelLoadException">The file does not exist, or ONNX Runtime cannot load it (the inner exception says why).</exception>
    public static InferenceSession Create(string modelPath, SessionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        return Create(ModelSource.FromFile(modelPath), settings);
    }

    /// <summary>
    /// Creates a session for a model file or a built graph. A built graph is loaded from its bytes with ONNX Runtime's
    /// <c>session.model_external_initializers_file_folder_path</c> set to its weights' folder, so its external data
    /// (offsets into the checkpoint) resolves there rather than against the working directory.
    /// </summary>
    internal static InferenceSession Create(ModelSource source, SessionSettings settings) => Create(source, settings, null);

    /// <summary>As <see cref="Create(ModelSource, SessionSettings)"/>, with a last say on the options (benchmarks dump the optimised graph).</summary>
    internal static InferenceSession Create(ModelSource source, SessionSettings settings, Action<SessionOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        EnsureAvailable(settings.Provider);

        using SessionOptions options = CreateSessionOptions(settings, source.WeightBytes);
        configure?.Invoke(options);
        if (source.FilePath is string path && !File.Exists(path))
            throw new ModelLoadException(path, "model file not found.");
        // Merged LoRA/TI weights are session inputs, not part of the model's identity: such sessions bypass the cache.
        string? cacheEntry = settings.OptimizedModelCache is string cacheRoot && settings.WeightOverrides is not { Count: > 0 } && configure is null
            && !settings.QuantizesWeights // quantised weights are made at load, not cached
            ? OptimizedModelCache.EntryFor(cacheRoot, source, settings, settings.ResolveFor(source.WeightBytes).Level)
            : null;
        OptimizedModelCache.LastOutcome = OptimizedModelCache.CacheOutcome.None;
        InferenceSession session;
        try
        {
            session = (cacheEntry is not null ? FromCache(cacheEntry, options) : null) ?? CreateAndCache(source, settings, options, cacheEntry);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelLoadException(source.Description, $"ONNX Runtime could not load the model: {ex.Message}", ex);
        }
        Interlocked.Increment(ref s_sessionsCreated);
        t_sessionsCreatedOnThisThread++;
        return session;
    }

    /// <summary>A session on a valid cache entry's graph, or null (no entry, a damaged one, or one ONNX Runtime refuses: deleted).</summary>
    private static InferenceSession? FromCache(string entry, SessionOptions options)
    {
        if (!OptimizedModelCache.IsValid(entry))
            return null;
        // Already optimised: the graph is taken as written; its external weights resolve beside it.
        GraphOptimizationLevel level = options.GraphOptimizationLevel;
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        try
        {
            InferenceSession session = new(Path.Combine(entry, OptimizedModelCache.GraphFile), options);
            OptimizedModelCache.LastOutcome = OptimizedModelCache.CacheOutcome.Hit;
            return session;
        }
        catch (OnnxRuntimeException)
        {
            OptimizedModelCache.TryDelete(entry);
            options.GraphOptimizationLevel = level;
            return null;
        }
    }

    /// <summary>A session on the model itself; with a cache entry to fill, ONNX Runtime writes its optimised graph there.</summary>
    private static InferenceSession CreateAndCache(ModelSource source, SessionSettings settings, SessionOptions options, string? entry)
    {
        if (entry is null || Directory.Exists(entry))
            return CreateFromSource(source, settings, options); // no cache, or another process has just written the entry
        Directory.CreateDirectory(Path.GetDirectoryName(entry)!);
        string temporary = OptimizedModelCache.Begin(entry);
        options.OptimizedModelFilePath = Path.Combine(temporary, OptimizedModelCache.GraphFile);
        options.AddSessionConfigEntry("session.optimized_model_external_initializers_file_name", OptimizedModelCache.DataFile);
        options.AddSessionConfigEntry("session.optimized_model_external_initializers_min_size_in_bytes", "1024");
        InferenceSession session;
        try
        {
            session = CreateFromSource(source, settings, options);
        }
        catch
        {
            OptimizedModelCache.TryDelete(temporary);
            throw;
        }
        if (OptimizedModelCache.Commit(temporary, entry))
            OptimizedModelCache.LastOutcome = OptimizedModelCache.CacheOutcome.Written;
        return session;
    }

    private static InferenceSession CreateFromSource(ModelSource source, SessionSettings settings, SessionOptions options)
    {
        IReadOnlyList<Weights.WeightOverrides> overrides = settings.WeightOverrides ?? [];
        if (source.Graph is null && settings.QuantizesWeights)
            source = source.InMemory(); // its linear layers are rewritten (SessionSettings.Quantization)
        if (source.Graph is not byte[] graph)
        {
            if (overrides.Count > 0)
                Weights.WeightOverrides.ApplyTo(options, overrides);
            return new InferenceSession(source.FilePath!, options);
        }
        if (source.ExternalDataFolder is string folder)
            options.AddSessionConfigEntry(ExternalDataFolderEntry, folder);
        // Half-precision weights are widened here rather than by ORT's cast folding (see WidenedWeights), except where ORT
        // reads weights from the file itself (level ALL's layout transforms) or serialises the graph (a cache entry), and
        // on GPU providers (ORT copies initializers to the device, so host memory held here would be a second copy).
        // Overridden weights behind such a cast take their replacement in float32, in place.
        // Quantised linear layers (SessionSettings.Quantization) are rewritten first; widening takes the remaining weights.
        Graphs.WidenedWeights? widened = null;
        Graphs.LinearWeightQuantizer? quantized = null;
        Graphs.ConvWeightQuantizer? convolutions = null;
        Graphs.Int8ActivationQuantizer? integer = null;
        try
        {
            if (settings.QuantizesWeights && source.ExternalDataFolder is string quantizeFolder)
            {
                var overridden = new HashSet<string>(overrides.SelectMany(o => o.Names), StringComparer.Ordinal);
                string? modelFile = source.EmbeddedWeightsFile;
                if (settings.QuantizeActivations)
                {
                    integer = Graphs.Int8ActivationQuantizer.Quantize(ref graph, quantizeFolder, settings.Quantization == WeightQuantization.Int8,
                        settings.QuantizeConvolutions, overridden, modelFile);
                }
                else
                {
                    quantized = Graphs.LinearWeightQuantizer.Quantize(ref graph, quantizeFolder, settings.Quantization, overridden, modelFile, settings.QuantizedAccuracyLevel);
                    if (settings.QuantizeConvolutions)
                        convolutions = Graphs.ConvWeightQuantizer.Quantize(ref graph, quantizeFolder, overridden, modelFile);
                }
            }
            if (settings.WidenHalfPrecisionWeights && settings.Provider.Kind == ExecutionProviderKind.Cpu && source.ExternalDataFolder is string dataFolder
                && options.GraphOptimizationLevel != GraphOptimizationLevel.ORT_ENABLE_ALL && string.IsNullOrEmpty(options.OptimizedModelFilePath))
                widened = Graphs.WidenedWeights.Widen(ref graph, dataFolder, new HashSet<string>(StringComparer.Ordinal), overrides);

            IReadOnlySet<string> handled = widened?.ReplacedByOverrides ?? new HashSet<string>();
            var remaining = overrides.SelectMany(o => o.Names).Where(n => !handled.Contains(n)).ToList();
            if (remaining.Count > 0)
            {
                graph = Graphs.OverridableWeights.Expose(graph, remaining);
                Weights.WeightOverrides.ApplyTo(options, overrides, handled);
            }
            if (widened is null && quantized is null && convolutions is null && integer is null)
                return new InferenceSession(graph, options);
            widened?.ApplyTo(options);
            quantized?.ApplyTo(options);
            convolutions?.ApplyTo(options);
            integer?.ApplyTo(options);
            return new WeightOwningSession(graph, options, [widened, quantized, convolutions, integer]);
        }
        catch
        {
            widened?.Dispose();
            quantized?.Dispose();
            convolutions?.Dispose();
            integer?.Dispose();
            throw;
        }
    }

    /// <summary>ONNX Runtime's session option that lets idle intra-op workers spin ("1") or sleep ("0"); see <see cref="SessionSettings.AllowSpinning"/>.</summary>
    internal const string AllowSpinningEntry = "session.intra_op.allow_spinning";

    /// <summary>The <see cref="AllowSpinningEntry"/> value a session gets from <paramref name="settings"/>, or null for none
    /// (ONNX Runtime's default, or its <see cref="SessionSettings.SessionConfigEntries"/> set it).</summary>
    internal static string? SpinningValue(SessionSettings settings)
        => settings.SessionConfigEntries?.ContainsKey(AllowSpinningEntry) == true ? null : settings.AllowSpinning switch { true => "1", false => "0", null => null };

    /// <summary>ONNX Runtime's session option that turns weight pre-packing off ("1").</summary>
    private const string DisablePrepackingEntry = "session.disable_prepacking";

    /// <summary>ONNX Runtime's session option naming the folder external data of a graph loaded from bytes lives in.</summary>
    private const string ExternalDataFolderEntry = "session.model_external_initializers_file_folder_path";

    /// <summary>
    /// Builds the session options for <paramref name="settings"/> and a model of <paramref name="weightBytes"/> (null when
    /// unknown; it picks the automatic optimisation level and pre-packing), appending the provider.
    /// </summary>
    internal static SessionOptions CreateSessionOptions(SessionSettings settings, long? weightBytes = null)
    {
        var options = new SessionOptions();
        try
        {
            (GraphOptimizationLevel level, bool prepack) = settings.ResolveFor(weightBytes);
            options.GraphOptimizationLevel = level;
            if (!prepack)
                options.AddSessionConfigEntry(DisablePrepackingEntry, "1");
            options.EnableCpuMemArena = settings.EnableMemoryArena;
            // DirectML cannot run with memory patterns (ONNX Runtime's DirectML documentation).
            options.EnableMemoryPattern = settings.EnableMemoryPattern && settings.Provider.Kind != ExecutionProviderKind.DirectML;
            if (settings.IntraOpThreads is int intra)
                options.IntraOpNumThreads = intra;
            if (settings.InterOpThreads is int inter)
                options.InterOpNumThreads = inter;
            if (SpinningValue(settings) is string spinning)
                options.AddSessionConfigEntry(AllowSpinningEntry, spinning);
            if (settings.SessionConfigEntries is not null)
            {
                foreach (KeyValuePair<string, string> entry in settings.SessionConfigEntries)
                    options.AddSessionConfigEntry(entry.Key, entry.Value);
            }
            AppendProvider(options, settings.Provider);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    private static void AppendProvider(SessionOptions options, ExecutionProvider provider)
    {
        try
        {
            switch (provider.Kind)
            {
                case ExecutionProviderKind.Cpu:
                    break; // ONNX Runtime always adds the CPU provider last.
                case ExecutionProviderKind.Cuda:
                    options.AppendExecutionProvider_CUDA(provider.DeviceId);
                    break;
                case ExecutionProviderKind.DirectML:
                    // DirectML requires sequential execution (no parallel operator scheduling).
                    options.ExecutionMode = ExecutionMode.ORT_SEQUENTIAL;
                    options.AppendExecutionProvider_DML(provider.DeviceId);
                    break;
                case ExecutionProviderKind.TensorRT:
                    options.AppendExecutionProvider_Tensorrt(provider.DeviceId);
                    options.AppendExecutionProvider_CUDA(provider.DeviceId); // nodes TensorRT rejects
                    break;
                case ExecutionProviderKind.Rocm:
                    options.AppendExecutionProvider_ROCm(provider.DeviceId);
                    break;
                case ExecutionProviderKind.OpenVino:
                    options.AppendExecutionProvider_OpenVINO(string.Empty);
                    break;
                case ExecutionProviderKind.CoreML:
                    options.AppendExecutionProvider("CoreML", new Dictionary<string, string>());
                    break;
                default:
                    throw new InvalidOperationException($"Unknown execution provider kind {provider.Kind}.");
            }
        }
        // The CPU-only native library lacks the provider's entry point (EntryPointNotFoundException), or
        // has it but was built without the provider (OnnxRuntimeException), or the provider's own
        // libraries (CUDA, cuDNN) fail to load (OnnxRuntimeException); CoreML off Apple throws NotSupportedException.
        catch (Exception ex) when (ex is EntryPointNotFoundException or OnnxRuntimeException or NotSupportedException or DllNotFoundException)
        {
            throw new ExecutionProviderUnavailableException(provider, $"ONNX Runtime refused to add it ({ex.GetType().Name}: {ex.Message}).", ex);
        }
    }
}
