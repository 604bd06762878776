using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.TextEncoding;

/// <summary>
/// The CLIP text encoder of a diffusers ONNX export (<c>text_encoder/model.onnx</c>): token ids
/// <c>[batch,sequence]</c> to <c>last_hidden_state</c> <c>[batch,sequence,hidden]</c>, the embeddings the
/// UNet is conditioned on. The <c>input_ids</c> input may be int32 (diffusers' convert script) or int64
/// (Optimum); callers always pass int32 ids. Float16 models return float32 to the caller.
/// </summary>
/// <remarks>
/// Only <c>last_hidden_state</c> is fetched (SD 1.x/2.x use it; <c>pooler_output</c> is for SDXL), or, for clip skip,
/// one of the per-layer <see cref="HiddenStateOutputs"/>. One encode at a time per instance.
/// </remarks>
public sealed partial class TextEncoder : OnnxModel
{
    private static readonly string[] s_inputIdsNames = ["input_ids"];
    private static readonly string[] s_lastHiddenStateNames = ["last_hidden_state", "text_embeddings"];

    private readonly BoundTokenTensor _inputIds;
    private readonly BoundFloatTensor _lastHiddenState;
    private int? _hiddenSize;
    private FinalLayerNorm? _finalLayerNorm;

    private TextEncoder(ModelSource source, SessionSettings settings) : base(source, settings)
    {
        try
        {
            InputIdsInput = FindInput(s_inputIdsNames);
            LastHiddenStateOutput = FindOutput(s_lastHiddenStateNames);
            RequireNoOtherInputs(InputIdsInput.Name);
            RequireRank(InputIdsInput, 2, "token ids [batch,sequence]");
            if (InputIdsInput.ElementKind is not (TensorElementKind.Int32 or TensorElementKind.Int64))
                throw new ModelContractException(ModelPath, InputIdsInput.Name, $"expected int32 or int64 token ids, the model declares {InputIdsInput}.");
            RequireRank(LastHiddenStateOutput, 3, "hidden states [batch,sequence,hidden]");
            RequireFloat(LastHiddenStateOutput);
            _hiddenSize = LastHiddenStateOutput.GetFixedDimension(2);
            FixedSequenceLength = InputIdsInput.GetFixedDimension(1);
            HiddenStateOutputs = FindHiddenStateOutputs(Outputs);
            PooledOutput = FindPooledOutput();
            _inputIds = new BoundTokenTensor(InputIdsInput);
            _lastHiddenState = new BoundFloatTensor(LastHiddenStateOutput, isOutput: true);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Loads the text encoder at <paramref name="modelPath"/> and reads its contract.</summary>
    /// <param name="modelPath">Path of <c>text_encoder/model.onnx</c>.</param>
    /// <param name="settings">Session settings; <see langword="null"/> for <see cref="SessionSettings.Default"/>.</param>
    /// <exception cref="ExecutionProviderUnavailableException">The provider is not available; nothing was loaded.</exception>
    /// <exception cref="ModelLoadException">The file is missing or ONNX Runtime cannot load it.</exception>
    /// <exception cref="ModelContractException"><c>input_ids</c> or <c>last_hidden_state</c> is missing, misnamed or of an unsupported type or rank.</exception>
    public static TextEncoder Load(string modelPath, SessionSettings? settings = null)
        => new(ModelSource.FromFile(modelPath ?? throw new ArgumentNullException(nameof(modelPath))), settings ?? SessionSettings.Default);

    /// <summary>Loads a graph built from a checkpoint (or any other <see cref="ModelSource"/>).</summary>
    internal static TextEncoder Load(ModelSource source, SessionSettings settings) => new(source, settings);

    /// <summary>The token-id input (<c>input_ids</c>).</summary>
    public TensorSpec InputIdsInput { get; }

    /// <summary>The hidden-state output (<c>last_hidden_state</c>).</summary>
    public TensorSpec LastHiddenStateOutput { get; }

    /// <summary>
    /// The per-layer hidden-state outputs an export made with <c>output_hidden_states</c> has (Optimum names them
    /// <c>hidden_states.0</c> … <c>hidden_states.N</c>: the embeddings, then each layer's output before the final
    /// layer norm), in layer order; empty when the model has none (the usual diffusers export).
    /// </summary>
    public IReadOnlyList<TensorSpec> HiddenStateOutputs { get; }

    /// <summary>Int32 or Int64: the token-id type the model declares (callers always pass int32).</summary>
    public TensorElementKind InputIdsElementKind => InputIdsInput.ElementKind;

    /// <summary>The sequence length when the model fixes it (77 for many CLIP exports), else <see langword="null"/>.</summary>
    public int? FixedSequenceLength { get; }

    /// <summary>
    /// The width of each token's embedding (768 for SD 1.x), from the output's declared shape; <see langword="null"/>
    /// while the axis is dynamic and the model has not run yet (see <see cref="GetHiddenSize"/>).
    /// </summary>
    public int? HiddenSize => _hiddenSize;

    /// <summary>
    /// The hidden size; when the model does not declare it, runs the model once on a one-token (or
    /// <see cref="FixedSequenceLength"/>-token) batch of zeros to learn it. The result is cached.
    /// </summary>
    /// <exception cref="DiffusionException">ONNX Runtime failed during that run.</exception>
    public int GetHiddenSize()
    {
        ThrowIfDisposed();
        if (_hiddenSize is int known)
            return known;
        _hiddenSize = LearnLastDimension(LastHiddenStateOutput, "[batch,sequence,hidden]");
        return _hiddenSize.Value;
    }

    /// <summary>
    /// Runs the model once on a one-token (or <see cref="FixedSequenceLength"/>-token) batch of zeros and returns the
    /// last axis of <paramref name="output"/>, for widths the model leaves dynamic.
    /// </summary>
    private int LearnLastDimension(TensorSpec output, string expected)
    {
        int sequenceLength = FixedSequenceLength ?? 1;
        long[] shape = [1, sequenceLength];
        using OrtValue ids = InputIdsElementKind == TensorElementKind.Int64
            ? OrtValue.CreateTensorValueFromMemory(new long[sequenceLength], shape)
            : OrtValue.CreateTensorValueFromMemory(new int[sequenceLength], shape);
        using var runOptions = new RunOptions();
        try
        {
            using IDisposableReadOnlyCollection<OrtValue> outputs = Session.Run(runOptions, [InputIdsInput.Name], [ids], [output.Name]);
            long[] outputShape = outputs[0].GetTensorTypeAndShape().Shape;
            if (outputShape.Length != output.Rank || outputShape[^1] < 1 || outputShape[^1] > int.MaxValue)
                throw new ModelContractException(ModelPath, output.Name, $"expected {expected}, the model returned [{string.Join(",", outputShape)}].");
            return (int)outputShape[^1];
        }
        catch (OnnxRuntimeException ex)
        {
            throw new DiffusionException($"{ModelPath}: inference failed: {ex.Message}", ex);
        }
    }

    /// <summary>Encodes token ids into hidden states.</summary>
    /// <param name="tokenIds">Token ids, <c>[batch, sequenceLength]</c> (padded to 77 for SD).</param>
    /// <param name="batch">Number of prompts.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="lastHiddenState">Receives float32 <c>[batch, sequenceLength, HiddenSize]</c>; a float32 model writes into it directly.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ArgumentException">A buffer length does not match the shapes, or a shape differs from an axis the model fixes (e.g. <see cref="FixedSequenceLength"/>).</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    public void Encode(ReadOnlyMemory<int> tokenIds, int batch, int sequenceLength, Memory<float> lastHiddenState, RunOptions? runOptions = null)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        Span<long> idsShape = [batch, sequenceLength];
        TensorShape.RequireLength(tokenIds.Length, idsShape, InputIdsInput.Name, nameof(tokenIds));
        Span<long> outputShape = [batch, sequenceLength, GetHiddenSize()];
        TensorShape.RequireLength(lastHiddenState.Length, outputShape, LastHiddenStateOutput.Name, nameof(lastHiddenState));
        RequireShapeFits(InputIdsInput, idsShape, nameof(tokenIds));
        RequireShapeFits(LastHiddenStateOutput, outputShape, nameof(lastHiddenState));

        OrtIoBinding binding = Binding;
        _inputIds.Bind(binding, tokenIds, idsShape);
        _lastHiddenState.Bind(binding, lastHiddenState, outputShape);
        RunBinding(runOptions);
        _lastHiddenState.CompleteOutput();
    }

    /// <summary>
    /// Encodes token ids into the hidden state <paramref name="clipSkip"/> layers from the end, as the AUTOMATIC1111
    /// web UI's clip skip does: 1 is <c>last_hidden_state</c> (the same allocation-free run as the other overload);
    /// N &gt; 1 fetches <c>hidden_states[-N]</c> of <see cref="HiddenStateOutputs"/> and applies the encoder's final
    /// layer norm to it (read from the graph's LayerNormalization that produces <c>last_hidden_state</c>).
    /// </summary>
    /// <param name="tokenIds">Token ids, <c>[batch, sequenceLength]</c>.</param>
    /// <param name="batch">Number of prompts.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="clipSkip">Layers from the end, 1 to <see cref="HiddenStateOutputs"/>.Count (1 also without them).</param>
    /// <param name="hiddenState">Receives float32 <c>[batch, sequenceLength, HiddenSize]</c>.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="InvalidOptionException"><paramref name="clipSkip"/> is out of range, the model has no per-layer
    /// outputs, or its final layer norm cannot be read from the graph (see <see cref="RequireClipSkip"/>).</exception>
    /// <exception cref="ArgumentException">A buffer length does not match the shapes, or a shape differs from an axis the model fixes.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    public void Encode(ReadOnlyMemory<int> tokenIds, int batch, int sequenceLength, int clipSkip, Memory<float> hiddenState, RunOptions? runOptions = null)
    {
        RequireClipSkip(clipSkip);
        if (clipSkip == 1)
        {
            Encode(tokenIds, batch, sequenceLength, hiddenState, runOptions);
            return;
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        TensorSpec output = HiddenStateOutputs[HiddenStateOutputs.Count - clipSkip];
        long[] idsShape = [batch, sequenceLength];
        TensorShape.RequireLength(tokenIds.Length, idsShape, InputIdsInput.Name, nameof(tokenIds));
        long[] outputShape = [batch, sequenceLength, GetHiddenSize()];
        TensorShape.RequireLength(hiddenState.Length, outputShape, output.Name, nameof(hiddenState));
        RequireShapeFits(InputIdsInput, idsShape, nameof(tokenIds));
        RequireShapeFits(output, outputShape, nameof(hiddenState));

        // The clip-skip path runs without the I/O binding (which stays bound to last_hidden_state for the hot path):
        // one run per prompt, so the few allocations here do not matter.
        RunOutputs(tokenIds, idsShape, [new RequestedOutput(output, outputShape, hiddenState)], runOptions);
        _finalLayerNorm!.Apply(hiddenState.Span);
    }

    /// <summary>
    /// Checks that this model can give the clip-skip <paramref name="clipSkip"/> hidden state, reading its final layer
    /// norm from the graph on the first call with a value above 1.
    /// </summary>
    /// <exception cref="InvalidOptionException">(option <c>ClipSkip</c>) <paramref name="clipSkip"/> is below 1 or above
    /// <see cref="HiddenStateOutputs"/>.Count; or it is above 1 and the model has no <c>hidden_states.N</c> outputs, or the
    /// norm producing <c>last_hidden_state</c> is not one LayerNormalization node with initializer weights (e.g. an export
    /// below opset 17 decomposes it into ReduceMean/Sub/Pow/… nodes), or its width is not the hidden size.</exception>
    public void RequireClipSkip(int clipSkip)
    {
        ThrowIfDisposed();
        const string Option = "ClipSkip";
        if (clipSkip < 1)
            throw new InvalidOptionException(Option, $"must be 1 (the last layer) or more, was {clipSkip}.");
        if (clipSkip == 1)
            return;
        if (HiddenStateOutputs.Count == 0)
        {
            throw new InvalidOptionException(Option,
                $"clip skip {clipSkip} needs the hidden state {clipSkip} layers from the end, and {ModelPath} has no per-layer outputs " +
                $"(hidden_states.0 … hidden_states.N; its outputs are {DescribeOutputs()}). Export the text encoder with output_hidden_states " +
                $"(e.g. Optimum), or with {clipSkip - 1} layer(s) fewer (its last_hidden_state is then the clip-skip-{clipSkip} embedding), or use ClipSkip 1.");
        }
        if (clipSkip > HiddenStateOutputs.Count)
        {
            throw new InvalidOptionException(Option,
                $"{ModelPath} has {HiddenStateOutputs.Count} hidden states (the embeddings and {HiddenStateOutputs.Count - 1} layers), " +
                $"so clip skip can be 1 to {HiddenStateOutputs.Count}; was {clipSkip}.");
        }
        TensorSpec output = HiddenStateOutputs[HiddenStateOutputs.Count - clipSkip];
        if (output.Rank != 3 || output.ElementKind is not (TensorElementKind.Float32 or TensorElementKind.Float16))
            throw new InvalidOptionException(Option, $"clip skip {clipSkip} reads '{output.Name}' of {ModelPath}, declared {output}; expected float [batch,sequence,hidden].");
        FinalLayerNorm norm = _finalLayerNorm ??= FinalLayerNorm.Read(Source, LastHiddenStateOutput.Name, clipSkip);
        if (norm.HiddenSize != GetHiddenSize())
        {
            throw new InvalidOptionException(Option,
                $"the final layer norm of {ModelPath} has {norm.HiddenSize} weights, the hidden size is {GetHiddenSize()}.");
        }
    }

    private static long[] ToInt64(ReadOnlySpan<int> ids)
    {
        var result = new long[ids.Length];
        for (int i = 0; i < ids.Length; i++)
            result[i] = ids[i];
        return result;
    }

    private string DescribeOutputs()
    {
        var names = new string[Outputs.Count];
        for (int i = 0; i < names.Length; i++)
            names[i] = Outputs[i].Name;
        return string.Join(", ", names);
    }

    private static TensorSpec[] FindHiddenStateOutputs(IReadOnlyList<TensorSpec> outputs)
    {
        const string Prefix = "hidden_states.";
        var found = new SortedList<int, TensorSpec>();
        foreach (TensorSpec output in outputs)
        {
            if (output.Name.StartsWith(Prefix, StringComparison.Ordinal)
                && int.TryParse(output.Name.AsSpan(Prefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int layer))
            {
                found[layer] = output;
            }
        }
        var result = new TensorSpec[found.Count];
        found.Values.CopyTo(result, 0);
        return result;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            ReleaseBoundTensors();
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    private protected override void ReleaseBoundTensors()
    {
        _inputIds?.Dispose();
        _lastHiddenState?.Dispose();
    }
}
