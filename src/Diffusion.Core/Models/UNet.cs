using Diffusion.Core.Execution;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// The denoising UNet of a diffusers ONNX Stable Diffusion export (<c>unet/model.onnx</c>): predicts the
/// noise (or v / sample, per the scheduler's prediction type) for latents at one timestep, conditioned on
/// text embeddings.
/// </summary>
/// <remarks>
/// <para>The contract is read from the model when it loads, so the exports in circulation all work through
/// the same float32 call: float32 or float16 tensors (<see cref="SampleElementKind"/>); a float32, float16
/// or int64 timestep (<see cref="TimestepElementKind"/>; the current diffusers convert script exports a
/// float, its older version and Optimum int64) that is 1-D or 0-D (<see cref="TimestepRank"/>; Optimum
/// ≥ 1.24 exports a scalar); 4 input channels, or 9 for inpainting UNets (<see cref="InChannels"/>).</para>
/// <para>Inputs are found by name: <c>sample</c>, <c>timestep</c> (or <c>timesteps</c>),
/// <c>encoder_hidden_states</c>; the output is <c>out_sample</c> (or the single output). A model with other
/// inputs than those and the added conditioning (<see cref="ConditioningInputs"/>) is rejected when it loads; ControlNet inputs, split
/// (residuals) or fused (control images), are recognised (see <see cref="AcceptsControlNetResiduals"/>,
/// <see cref="IsFusedControlNet"/>) and fed zeros by a plain <see cref="Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, RunOptions?)"/>.</para>
/// <para>Buffers passed to <see cref="Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, RunOptions?)"/> stay bound (and pinned, for float32 models) until different
/// buffers or shapes are passed or the UNet is disposed, so a denoising loop that reuses its buffers runs
/// without per-step allocations. One <see cref="Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, RunOptions?)"/> at a time per instance.</para>
/// </remarks>
public sealed partial class UNet : OnnxModel
{
    private static readonly string[] s_sampleNames = ["sample", "latent_model_input"];
    private static readonly string[] s_timestepNames = ["timestep", "timesteps", "t"];
    private static readonly string[] s_encoderHiddenStatesNames = ["encoder_hidden_states", "text_embeddings", "context"];
    private static readonly string[] s_outputNames = ["out_sample", "noise_pred"];

    private readonly BoundFloatTensor _sample;
    private readonly BoundScalarTensor _timestep;
    private readonly BoundFloatTensor _encoderHiddenStates;
    private readonly BoundFloatTensor _noisePrediction;

    private UNet(ModelSource source, SessionSettings settings) : base(source, settings)
    {
        try
        {
            SampleInput = FindInput(s_sampleNames);
            TimestepInput = FindInput(s_timestepNames);
            EncoderHiddenStatesInput = FindInput(s_encoderHiddenStatesNames);
            NoisePredictionOutput = FindOutput(s_outputNames);
            InitializeControlNetInputs();
            InitializeCacheFeature();
            _conditioning = new AddedConditioningInputs(ModelPath, Inputs);
            RequireNoOtherInputs(_conditioning.AppendNames(WithCacheFeatureInputName(WithControlNetInputNames(SampleInput.Name, TimestepInput.Name, EncoderHiddenStatesInput.Name))));

            RequireRank(SampleInput, 4, "latents [batch,channels,height,width]");
            RequireFloat(SampleInput);
            RequireRank(EncoderHiddenStatesInput, 3, "text embeddings [batch,sequence,width]");
            RequireFloat(EncoderHiddenStatesInput);
            RequireRank(NoisePredictionOutput, 4, "a prediction [batch,channels,height,width]");
            RequireFloat(NoisePredictionOutput);
            if (TimestepInput.ElementKind == TensorElementKind.Other)
                throw new ModelContractException(ModelPath, TimestepInput.Name, $"expected a float32, float16, int64 or int32 timestep, the model declares {TimestepInput}.");
            if (TimestepInput.Rank > 1)
                throw new ModelContractException(ModelPath, TimestepInput.Name, $"expected a 0-D or 1-D timestep, the model declares {TimestepInput}.");

            InChannels = SampleInput.GetFixedDimension(1) ?? 4;
            OutChannels = NoisePredictionOutput.GetFixedDimension(1) ?? 4;
            FixedBatchSize = SampleInput.GetFixedDimension(0);
            TextEmbeddingWidth = EncoderHiddenStatesInput.GetFixedDimension(2);

            _sample = new BoundFloatTensor(SampleInput, isOutput: false);
            _timestep = new BoundScalarTensor(TimestepInput);
            _encoderHiddenStates = new BoundFloatTensor(EncoderHiddenStatesInput, isOutput: false);
            _noisePrediction = new BoundFloatTensor(NoisePredictionOutput, isOutput: true);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads the UNet at <paramref name="modelPath"/> (external weight files next to it are found) and reads its contract.
    /// </summary>
    /// <param name="modelPath">Path of <c>unet/model.onnx</c>.</param>
    /// <param name="settings">Session settings; <see langword="null"/> for <see cref="SessionSettings.Default"/>.</param>
    /// <exception cref="ExecutionProviderUnavailableException">The provider is not available; nothing was loaded.</exception>
    /// <exception cref="ModelLoadException">The file is missing or ONNX Runtime cannot load it.</exception>
    /// <exception cref="ModelContractException">An input or the output is missing, misnamed or of an unsupported type or rank.</exception>
    public static UNet Load(string modelPath, SessionSettings? settings = null)
        => new(ModelSource.FromFile(modelPath ?? throw new ArgumentNullException(nameof(modelPath))), settings ?? SessionSettings.Default);

    /// <summary>Loads a graph built from a checkpoint (or any other <see cref="ModelSource"/>).</summary>
    internal static UNet Load(ModelSource source, SessionSettings settings) => new(source, settings);

    /// <summary>The latent input (<c>sample</c>).</summary>
    public TensorSpec SampleInput { get; }

    /// <summary>The timestep input (<c>timestep</c>).</summary>
    public TensorSpec TimestepInput { get; }

    /// <summary>The text-embedding input (<c>encoder_hidden_states</c>).</summary>
    public TensorSpec EncoderHiddenStatesInput { get; }

    /// <summary>The prediction output (<c>out_sample</c>).</summary>
    public TensorSpec NoisePredictionOutput { get; }

    /// <summary>Float32 or Float16: the precision the model computes in. Callers always pass float32.</summary>
    public TensorElementKind SampleElementKind => SampleInput.ElementKind;

    /// <summary>Float32, Float16 or Int64 (Int32 is accepted too): the timestep type the model declares.</summary>
    public TensorElementKind TimestepElementKind => TimestepInput.ElementKind;

    /// <summary>0 for a scalar timestep, 1 for a <c>[1]</c> or <c>[batch]</c> one.</summary>
    public int TimestepRank => TimestepInput.Rank;

    /// <summary>The width of the text embeddings the model expects (768 for SD 1.x, 1024 for SD 2.x), or <see langword="null"/> when the axis is dynamic.</summary>
    public int? TextEmbeddingWidth { get; }

    /// <summary>The batch size when the model fixes it (some exports fix it to 2 for classifier-free guidance), else <see langword="null"/>.</summary>
    public int? FixedBatchSize { get; }

    /// <summary>Latent channels the model takes: 4, or 9 for inpainting UNets (latents, mask, masked-image latents). 4 when the axis is dynamic.</summary>
    public int InChannels { get; }

    /// <summary>Channels of the prediction (4 for SD). 4 when the axis is dynamic.</summary>
    public int OutChannels { get; }

    /// <summary>
    /// Runs the UNet once and writes the prediction into <paramref name="noisePrediction"/>.
    /// </summary>
    /// <param name="sample">Latents, float32 <c>[batch, InChannels, height, width]</c>.</param>
    /// <param name="batch">Batch size (2 for classifier-free guidance with one prompt).</param>
    /// <param name="height">Latent height (image height / 8).</param>
    /// <param name="width">Latent width (image width / 8).</param>
    /// <param name="timestep">
    /// The timestep, converted to the model's type: float16 rounds, int64 truncates toward zero like
    /// numpy's <c>astype</c>. Passed as a scalar to a 0-D input, as <c>[1]</c> when the model fixes that
    /// axis to 1, else repeated as <c>[batch]</c>.
    /// </param>
    /// <param name="encoderHiddenStates">Text embeddings, float32 <c>[batch, sequenceLength, TextEmbeddingWidth]</c>.</param>
    /// <param name="sequenceLength">Tokens per prompt (77 for CLIP).</param>
    /// <param name="noisePrediction">Receives the prediction, float32 <c>[batch, OutChannels, height, width]</c>; a float32 model writes into it directly.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ArgumentException">
    /// A buffer length does not match the shapes, a shape differs from an axis the model fixes (e.g. <see cref="FixedBatchSize"/>),
    /// or <paramref name="noisePrediction"/> overlaps an input buffer.
    /// </exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    /// <exception cref="ArgumentException">The model takes added conditioning (<see cref="ConditioningInputs"/>): use the overload that passes it.</exception>
    public void Predict(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, Memory<float> noisePrediction, RunOptions? runOptions = null)
        => PredictCore(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, noisePrediction, runOptions, null);

    private void PredictCore(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, Memory<float> noisePrediction, RunOptions? runOptions,
        IReadOnlyDictionary<string, Memory<float>>? conditioning)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        if (FixedBatchSize is int fixedBatch && batch != fixedBatch)
            throw new ArgumentException($"{ModelPath}: the model fixes the batch size of '{SampleInput.Name}' to {fixedBatch}; got {batch}.", nameof(batch));

        Span<long> sampleShape = [batch, InChannels, height, width];
        TensorShape.RequireLength(sample.Length, sampleShape, SampleInput.Name, nameof(sample));
        Span<long> outputShape = [batch, OutChannels, height, width];
        TensorShape.RequireLength(noisePrediction.Length, outputShape, NoisePredictionOutput.Name, nameof(noisePrediction));
        long embeddingWidth = TextEmbeddingWidth ?? InferLastDimension(encoderHiddenStates.Length, (long)batch * sequenceLength, nameof(encoderHiddenStates));
        Span<long> embeddingShape = [batch, sequenceLength, embeddingWidth];
        TensorShape.RequireLength(encoderHiddenStates.Length, embeddingShape, EncoderHiddenStatesInput.Name, nameof(encoderHiddenStates));

        RequireShapeFits(SampleInput, sampleShape, nameof(sample));
        RequireShapeFits(EncoderHiddenStatesInput, embeddingShape, nameof(encoderHiddenStates));
        RequireShapeFits(NoisePredictionOutput, outputShape, nameof(noisePrediction));
        RequireNoOverlap(sample.Span, noisePrediction.Span, nameof(sample), nameof(noisePrediction));
        RequireNoOverlap(encoderHiddenStates.Span, noisePrediction.Span, nameof(encoderHiddenStates), nameof(noisePrediction));

        Span<long> timestepShapeBuffer = [batch];
        ReadOnlySpan<long> timestepShape = TimestepShape(batch, timestepShapeBuffer);

        OrtIoBinding binding = Binding;
        _sample.Bind(binding, sample, sampleShape);
        _timestep.Bind(binding, timestep, timestepShape);
        _encoderHiddenStates.Bind(binding, encoderHiddenStates, embeddingShape);
        _noisePrediction.Bind(binding, noisePrediction, outputShape);
        BindControlNetInputs(binding, batch, height, width);
        _conditioning!.Bind(binding, batch, conditioning, nameof(conditioning));
        BindCacheFeature(binding, batch, height, width);
        RunBinding(runOptions);
        _noisePrediction.CompleteOutput();
        CompleteCacheFeature(binding, batch, height, width);
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
        _sample?.Dispose();
        _timestep?.Dispose();
        _encoderHiddenStates?.Dispose();
        _noisePrediction?.Dispose();
        DisposeControlNetInputs();
        _conditioning?.Dispose();
        _cacheFeature?.Dispose();
    }

    private ReadOnlySpan<long> TimestepShape(int batch, Span<long> buffer)
    {
        if (TimestepRank == 0)
            return [];
        if (TimestepInput.GetFixedDimension(0) is int fixedLength)
        {
            if (fixedLength != 1 && fixedLength != batch)
                throw new ArgumentException($"{ModelPath}: the model fixes '{TimestepInput.Name}' to [{fixedLength}], which is neither 1 nor the batch size {batch}.", nameof(batch));
            buffer[0] = fixedLength;
        }
        return buffer;
    }

    private long InferLastDimension(int length, long leading, string parameterName)
    {
        if (length == 0 || length % leading != 0)
            throw new ArgumentException($"{ModelPath}: '{EncoderHiddenStatesInput.Name}' has {length} elements, not a multiple of batch × sequence = {leading}.", parameterName);
        return length / leading;
    }
}
