using Diffusion.Core.Execution;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// Base of the model wrappers: one ONNX Runtime session created from a file path, the model's declared
/// inputs and outputs, and a run that feeds caller-owned buffers through an I/O binding so outputs are
/// written straight into the caller's memory.
/// </summary>
/// <remarks>
/// A wrapper caches its bound buffers between calls, so one instance runs one call at a time; use one
/// instance per thread for concurrent inference. Cancel a run by setting <see cref="RunOptions.Terminate"/>
/// on the <see cref="RunOptions"/> passed to it (from any thread): the run then throws
/// <see cref="OperationCanceledException"/>. Other ONNX Runtime failures during a run surface as
/// <see cref="DiffusionException"/> naming the model file.
/// </remarks>
public abstract class OnnxModel : IDisposable
{
    private readonly SessionSettings _settings;
    private InferenceSession? _session;
    private OrtIoBinding? _binding;
    private RunOptions? _defaultRunOptions;
    private bool _disposed;

    /// <summary>Creates the session for <paramref name="modelPath"/> and reads its inputs and outputs.</summary>
    /// <exception cref="ExecutionProviderUnavailableException">The provider in <paramref name="settings"/> is not available.</exception>
    /// <exception cref="ModelLoadException">The file is missing or ONNX Runtime cannot load it.</exception>
    private protected OnnxModel(string modelPath, SessionSettings settings)
        : this(ModelSource.FromFile(modelPath ?? throw new ArgumentNullException(nameof(modelPath))), settings)
    {
    }

    /// <summary>Creates the session for a model file or a built graph and reads its inputs and outputs.</summary>
    private protected OnnxModel(ModelSource source, SessionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(source);
        Source = source;
        ModelPath = source.Description;
        _settings = settings;
        InferenceSession session = SessionFactory.Create(source, settings);
        _session = session;
        try
        {
            Inputs = ReadSpecs(session.InputNames, session.InputMetadata);
            Outputs = ReadSpecs(session.OutputNames, session.OutputMetadata);
            InputsWithDefaults = ReadSpecs([.. session.OverridableInitializerMetadata.Keys], session.OverridableInitializerMetadata);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// True while the ONNX Runtime session is in memory. A model is loaded when created; <see cref="Unload"/>
    /// releases the session and the next run loads it again from <see cref="ModelPath"/> with the same settings.
    /// </summary>
    public bool IsLoaded => _session is not null;

    /// <summary>
    /// Releases the ONNX Runtime session (its weights and arena) while keeping the discovered contract, so a pipeline
    /// can hold only the model of the stage it is running (the <c>Sequential</c> memory mode). The next run creates the
    /// session again (same file, same settings). Does nothing when already unloaded.
    /// </summary>
    public void Unload()
    {
        ThrowIfDisposed();
        if (_session is null)
            return;
        ReleaseBoundTensors();
        _binding?.Dispose();
        _binding = null;
        _session.Dispose();
        _session = null;
        NativeMemory.Trim();
    }

    /// <summary>Releases the wrapper's bound tensors so they bind again to the next session (see <see cref="Unload"/>).</summary>
    private protected virtual void ReleaseBoundTensors()
    {
    }

    /// <summary>
    /// The <c>.onnx</c> file this model was loaded from; for a model built from a checkpoint, what was built from which
    /// file (<c>text_encoder built from …/model.safetensors</c>). Messages name the model by it.
    /// </summary>
    public string ModelPath { get; }

    /// <summary>Where the graph comes from (the session is created from it again after <see cref="Unload"/>).</summary>
    internal ModelSource Source { get; }

    /// <summary>The settings the session is created with (a model derived from this one's graph loads with the same).</summary>
    internal SessionSettings Settings => _settings;

    /// <summary>The model's inputs in graph order.</summary>
    public IReadOnlyList<TensorSpec> Inputs { get; }

    /// <summary>The model's outputs in graph order.</summary>
    public IReadOnlyList<TensorSpec> Outputs { get; }

    /// <summary>Inputs a run may leave out: graph inputs that are also initializers (ONNX Runtime's overridable initializers,
    /// such as a built SD3 transformer's <c>skip_layers</c>).</summary>
    public IReadOnlyList<TensorSpec> InputsWithDefaults { get; }

    /// <summary>The session, for wrappers that run without the binding.</summary>
    private protected InferenceSession Session
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _session ??= SessionFactory.Create(Source, _settings);
        }
    }

    /// <summary>The I/O binding the wrapper's bound tensors attach to (created on first use).</summary>
    private protected OrtIoBinding Binding
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _binding ??= Session.CreateIoBinding();
        }
    }

    /// <summary>
    /// Finds the input named by the first of <paramref name="preferredNames"/> the model has.
    /// </summary>
    /// <exception cref="ModelContractException">None of the names is an input; the message lists the inputs found.</exception>
    protected TensorSpec FindInput(params ReadOnlySpan<string> preferredNames)
        => FindByName(Inputs, "input", preferredNames)
           ?? throw new ModelContractException(ModelPath, preferredNames[0], $"the model has no input named {JoinNames(preferredNames)}; its inputs are {Describe(Inputs)}.");

    /// <summary>
    /// Finds the output named by the first of <paramref name="preferredNames"/>; when none matches and the
    /// model has exactly one output, that output (output names vary more between exporters than inputs).
    /// </summary>
    /// <exception cref="ModelContractException">No output matches; the message lists the outputs found.</exception>
    protected TensorSpec FindOutput(params ReadOnlySpan<string> preferredNames)
        => FindByName(Outputs, "output", preferredNames)
           ?? (Outputs.Count == 1 ? Outputs[0] : null)
           ?? throw new ModelContractException(ModelPath, preferredNames[0], $"the model has no output named {JoinNames(preferredNames)}; its outputs are {Describe(Outputs)}.");

    /// <summary>Finds the first of <paramref name="preferredNames"/> among the inputs, or <see langword="null"/>.</summary>
    protected TensorSpec? TryFindInput(params ReadOnlySpan<string> preferredNames) => FindByName(Inputs, "input", preferredNames);

    /// <summary>Finds the first of <paramref name="preferredNames"/> among the outputs, or <see langword="null"/>.</summary>
    protected TensorSpec? TryFindOutput(params ReadOnlySpan<string> preferredNames) => FindByName(Outputs, "output", preferredNames);

    /// <summary>Throws a <see cref="ModelContractException"/> unless <paramref name="spec"/> has rank <paramref name="rank"/>.</summary>
    protected void RequireRank(TensorSpec spec, int rank, string meaning)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Rank != rank)
            throw new ModelContractException(ModelPath, spec.Name, $"expected {meaning} of rank {rank}, the model declares {spec}.");
    }

    /// <summary>Throws a <see cref="ModelContractException"/> unless <paramref name="spec"/> is float32 or float16.</summary>
    protected void RequireFloat(TensorSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.ElementKind is not (TensorElementKind.Float32 or TensorElementKind.Float16))
            throw new ModelContractException(ModelPath, spec.Name, $"expected a float32 or float16 tensor, the model declares {spec}.");
    }

    /// <summary>Throws a <see cref="ModelContractException"/> when the model has inputs the wrapper does not feed.</summary>
    protected void RequireNoOtherInputs(params ReadOnlySpan<string> fedNames)
    {
        foreach (TensorSpec input in Inputs)
        {
            bool fed = false;
            foreach (string name in fedNames)
                fed |= string.Equals(name, input.Name, StringComparison.Ordinal);
            if (!fed)
                throw new ModelContractException(ModelPath, input.Name, $"unexpected input {input}; this wrapper feeds only {JoinNames(fedNames)}.");
        }
    }

    /// <summary>
    /// Checks a caller-chosen shape against the axes the model fixes (a static-shape export may fix the batch,
    /// the latent size or the sequence length).
    /// </summary>
    /// <exception cref="ArgumentException">An axis differs from the model's fixed size; the message names the tensor and both shapes.</exception>
    private protected void RequireShapeFits(TensorSpec spec, ReadOnlySpan<long> shape, string parameterName)
    {
        bool fits = spec.Rank == shape.Length;
        for (int axis = 0; fits && axis < shape.Length; axis++)
            fits = spec.Dimensions[axis] <= 0 || spec.Dimensions[axis] == shape[axis];
        if (!fits)
            throw new ArgumentException($"{ModelPath}: '{spec.Name}' is declared {spec}; the shape [{string.Join(",", shape.ToArray())}] does not fit it.", parameterName);
    }

    /// <summary>Throws when two caller buffers share memory (ONNX Runtime would read what it is overwriting).</summary>
    private protected static void RequireNoOverlap(ReadOnlySpan<float> input, ReadOnlySpan<float> output, string inputName, string outputName)
    {
        if (input.Overlaps(output))
            throw new ArgumentException($"The '{outputName}' buffer overlaps the '{inputName}' buffer; pass separate memory.", outputName);
    }

    /// <summary>Runs the model on what is bound to <see cref="Binding"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="runOptions"/> was terminated.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed; the message names the model file.</exception>
    private protected void RunBinding(RunOptions? runOptions)
    {
        OrtIoBinding binding = Binding;
        RunOptions options = runOptions ?? (_defaultRunOptions ??= new RunOptions());
        try
        {
            Session.RunWithBinding(options, binding);
        }
        catch (OnnxRuntimeException ex) when (options.Terminate)
        {
            throw new OperationCanceledException($"{ModelPath}: the run was cancelled (RunOptions.Terminate).", ex);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new DiffusionException($"{ModelPath}: inference failed: {ex.Message}", ex);
        }
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> after <see cref="Dispose()"/>.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases the session, the binding and every cached buffer.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the derived wrapper's cached tensors; overrides must call the base.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (_disposed || !disposing)
            return;
        _disposed = true;
        _binding?.Dispose();
        _defaultRunOptions?.Dispose();
        _session?.Dispose();
        _session = null;
    }

    private static TensorSpec? FindByName(IReadOnlyList<TensorSpec> specs, string kind, ReadOnlySpan<string> preferredNames)
    {
        if (preferredNames.IsEmpty)
            throw new ArgumentException($"At least one {kind} name is needed.", nameof(preferredNames));
        foreach (string name in preferredNames)
        {
            foreach (TensorSpec spec in specs)
            {
                if (string.Equals(spec.Name, name, StringComparison.Ordinal))
                    return spec;
            }
        }
        return null;
    }

    private static string JoinNames(ReadOnlySpan<string> names)
    {
        var quoted = new string[names.Length];
        for (int i = 0; i < names.Length; i++)
            quoted[i] = $"'{names[i]}'";
        return string.Join(" or ", quoted);
    }

    private static string Describe(IReadOnlyList<TensorSpec> specs)
    {
        if (specs.Count == 0)
            return "none";
        var parts = new string[specs.Count];
        for (int i = 0; i < specs.Count; i++)
            parts[i] = specs[i].ToString();
        return string.Join("; ", parts);
    }

    private static TensorSpec[] ReadSpecs(IReadOnlyList<string> names, IReadOnlyDictionary<string, NodeMetadata> metadata)
    {
        var specs = new TensorSpec[names.Count];
        for (int i = 0; i < names.Count; i++)
            specs[i] = TensorSpec.FromMetadata(names[i], metadata[names[i]]);
        return specs;
    }
}
