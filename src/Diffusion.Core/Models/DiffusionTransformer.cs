using Diffusion.Core.Execution;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// A flow-matching diffusion transformer session (diffusers' <c>SD3Transformer2DModel</c> or <c>FluxTransformer2DModel</c>,
/// exported by optimum or built from safetensors): <c>hidden_states</c> (SD3 [batch, C, h, w]; FLUX.1 packed
/// [batch, image tokens, C·4]), <c>encoder_hidden_states</c>, <c>pooled_projections</c>, <c>timestep</c> [batch] and, for
/// FLUX.1, <c>img_ids</c>, <c>txt_ids</c> and (dev) <c>guidance</c> [batch]; the prediction
/// <c>out_hidden_states</c> has the shape of <c>hidden_states</c>. Inputs are bound by name over caller memory and the
/// output is written into the caller's buffer.
/// </summary>
public sealed class DiffusionTransformer : OnnxModel
{
    private readonly BoundFloatTensor _hiddenStates;
    private readonly BoundScalarTensor _timestep;
    private readonly BoundFloatTensor _encoderHiddenStates;
    private readonly BoundFloatTensor _pooled;
    private readonly BoundFloatTensor? _imageIds;
    private readonly BoundFloatTensor? _textIds;
    private readonly BoundScalarTensor? _guidance;
    private readonly BoundFloatTensor _prediction;
    private readonly BoundFloatTensor? _skipLayers;
    private readonly float[] _skipMask = [];

    private DiffusionTransformer(ModelSource source, SessionSettings settings) : base(source, settings)
    {
        try
        {
            HiddenStatesInput = FindInput("hidden_states");
            TimestepInput = FindInput("timestep");
            EncoderHiddenStatesInput = FindInput("encoder_hidden_states");
            PooledProjectionsInput = FindInput("pooled_projections");
            ImageIdsInput = TryFindInput("img_ids");
            TextIdsInput = TryFindInput("txt_ids");
            GuidanceInput = TryFindInput("guidance");
            PredictionOutput = FindOutput("out_hidden_states", "sample");
            List<string> fed = [HiddenStatesInput.Name, TimestepInput.Name, EncoderHiddenStatesInput.Name, PooledProjectionsInput.Name];
            foreach (TensorSpec? optional in (ReadOnlySpan<TensorSpec?>)[ImageIdsInput, TextIdsInput, GuidanceInput])
            {
                if (optional is not null)
                    fed.Add(optional.Name);
            }
            RequireNoOtherInputs([.. fed]);
            if ((ImageIdsInput is null) != (TextIdsInput is null))
                throw new ModelContractException(ModelPath, (ImageIdsInput ?? TextIdsInput)!.Name, "a FLUX.1 transformer takes both img_ids and txt_ids; this model declares only one.");
            if (HiddenStatesInput.Rank is not (3 or 4))
                throw new ModelContractException(ModelPath, HiddenStatesInput.Name, $"expected SD3's [batch,channels,height,width] or FLUX.1's packed [batch,tokens,channels], the model declares {HiddenStatesInput}.");
            RequireFloat(HiddenStatesInput);
            RequireRank(EncoderHiddenStatesInput, 3, "text tokens [batch,tokens,width]");
            RequireRank(PooledProjectionsInput, 2, "a pooled projection [batch,width]");
            RequireRank(PredictionOutput, HiddenStatesInput.Rank, "a prediction shaped like hidden_states");
            RequireRank(TimestepInput, 1, "timesteps [batch]");
            if (ImageIdsInput is not null)
            {
                RequireRank(ImageIdsInput, 2, "image position ids [tokens,3]");
                RequireRank(TextIdsInput!, 2, "text position ids [tokens,3]");
            }
            if (GuidanceInput is not null)
                RequireRank(GuidanceInput, 1, "guidance [batch]");

            _hiddenStates = new BoundFloatTensor(HiddenStatesInput, isOutput: false);
            _timestep = new BoundScalarTensor(TimestepInput);
            _encoderHiddenStates = new BoundFloatTensor(EncoderHiddenStatesInput, isOutput: false);
            _pooled = new BoundFloatTensor(PooledProjectionsInput, isOutput: false);
            _imageIds = ImageIdsInput is null ? null : new BoundFloatTensor(ImageIdsInput, isOutput: false);
            _textIds = TextIdsInput is null ? null : new BoundFloatTensor(TextIdsInput, isOutput: false);
            _guidance = GuidanceInput is null ? null : new BoundScalarTensor(GuidanceInput);
            _prediction = new BoundFloatTensor(PredictionOutput, isOutput: true);
            SkipLayersInput = InputsWithDefaults.FirstOrDefault(spec => spec.Name == Graphs.Architectures.Sd3TransformerGraph.SkipLayersInput);
            if (SkipLayersInput is not null)
            {
                if (SkipLayersInput.Rank != 1 || SkipLayersInput.GetFixedDimension(0) is not int layers || SkipLayersInput.ElementKind != TensorElementKind.Float32)
                    throw new ModelContractException(ModelPath, SkipLayersInput.Name, $"expected a float32 mask [layers]; the model declares {SkipLayersInput}.");
                _skipMask = new float[layers];
                _skipLayers = new BoundFloatTensor(SkipLayersInput, isOutput: false);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Loads an exported transformer (<c>transformer/model.onnx</c>).</summary>
    /// <exception cref="ModelLoadException">The file is missing or ONNX Runtime cannot load it.</exception>
    /// <exception cref="ModelContractException">The model's inputs are not a diffusion transformer's.</exception>
    public static DiffusionTransformer Load(string modelPath, SessionSettings? settings = null)
        => new(ModelSource.FromFile(modelPath ?? throw new ArgumentNullException(nameof(modelPath))), settings ?? SessionSettings.Default);

    internal static DiffusionTransformer Load(ModelSource source, SessionSettings settings) => new(source, settings);

    /// <summary>The latent input (<c>hidden_states</c>).</summary>
    public TensorSpec HiddenStatesInput { get; }

    /// <summary>The timestep input, [batch].</summary>
    public TensorSpec TimestepInput { get; }

    /// <summary>The text tokens input.</summary>
    public TensorSpec EncoderHiddenStatesInput { get; }

    /// <summary>The pooled text projection input.</summary>
    public TensorSpec PooledProjectionsInput { get; }

    /// <summary>FLUX.1's image position ids, or null.</summary>
    public TensorSpec? ImageIdsInput { get; }

    /// <summary>FLUX.1's text position ids, or null.</summary>
    public TensorSpec? TextIdsInput { get; }

    /// <summary>FLUX.1-dev's embedded guidance input, or null (schnell, SD3).</summary>
    public TensorSpec? GuidanceInput { get; }

    /// <summary>The prediction output.</summary>
    public TensorSpec PredictionOutput { get; }

    /// <summary>The mask of joint blocks to skip (diffusers' <c>skip_layers</c>, for skip-layer guidance): SD3 transformers
    /// built from safetensors have it, exports do not; null without it.</summary>
    public TensorSpec? SkipLayersInput { get; }

    /// <summary>How many joint blocks <see cref="SetSkippedLayers"/> can skip (0 when the model cannot skip any).</summary>
    public int SkippableLayers => _skipMask.Length;

    /// <summary>
    /// The joint blocks the next runs skip (both streams pass such a block unchanged, as diffusers' <c>skip_layers</c>);
    /// empty to run every block again.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model has no <c>skip_layers</c> input.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A layer is outside 0 … <see cref="SkippableLayers"/> − 1.</exception>
    public void SetSkippedLayers(ReadOnlySpan<int> layers)
    {
        if (_skipLayers is null && layers.Length > 0)
            throw new InvalidOperationException($"{ModelPath}: the model has no '{Graphs.Architectures.Sd3TransformerGraph.SkipLayersInput}' input (an exported transformer); build it from safetensors to skip layers.");
        foreach (int layer in layers)
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)layer, (uint)_skipMask.Length, nameof(layers));
        Array.Clear(_skipMask);
        foreach (int layer in layers)
            _skipMask[layer] = 1f;
    }

    /// <summary>Whether the latents come packed into tokens (FLUX.1: rank-3 <c>hidden_states</c>).</summary>
    public bool TakesPackedLatents => HiddenStatesInput.Rank == 3;

    /// <summary>Whether the model takes RoPE position ids (FLUX.1).</summary>
    public bool TakesPositionIds => ImageIdsInput is not null;

    /// <summary>Whether the model embeds a guidance scale (FLUX.1-dev) instead of running classifier-free guidance.</summary>
    public bool TakesGuidance => GuidanceInput is not null;

    /// <summary>The text token width (<c>joint_attention_dim</c>) when the model fixes it.</summary>
    public int? JointAttentionWidth => EncoderHiddenStatesInput.GetFixedDimension(2);

    /// <summary>The pooled projection width when the model fixes it.</summary>
    public int? PooledProjectionWidth => PooledProjectionsInput.GetFixedDimension(1);

    /// <summary>
    /// Runs the transformer once: <paramref name="hiddenStates"/> of shape <paramref name="hiddenShape"/> (its first axis the
    /// batch) at <paramref name="timestep"/> (the value the model takes: diffusers' FLUX.1 pipeline passes t/1000, SD3 t)
    /// conditioned on <paramref name="conditioning"/>, into <paramref name="prediction"/> (the same shape).
    /// </summary>
    /// <exception cref="ArgumentException">A buffer does not match the shapes, a shape differs from an axis the model fixes, ids or guidance are missing for a model that takes them, or buffers overlap.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    public void Predict(Memory<float> hiddenStates, ReadOnlySpan<long> hiddenShape, float timestep, TransformerConditioning conditioning,
        Memory<float> prediction, RunOptions? runOptions = null)
    {
        ThrowIfDisposed();
        if (hiddenShape.Length != HiddenStatesInput.Rank)
            throw new ArgumentException($"{ModelPath}: '{HiddenStatesInput.Name}' has rank {HiddenStatesInput.Rank}; the shape given has {hiddenShape.Length} axes.", nameof(hiddenShape));
        long batch = hiddenShape[0];
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1L, nameof(hiddenShape));
        ArgumentOutOfRangeException.ThrowIfLessThan(conditioning.TextTokens, 1, nameof(conditioning));
        TensorShape.RequireLength(hiddenStates.Length, hiddenShape, HiddenStatesInput.Name, nameof(hiddenStates));
        TensorShape.RequireLength(prediction.Length, hiddenShape, PredictionOutput.Name, nameof(prediction));
        long textWidth = RowWidth(conditioning.EncoderHiddenStates.Length, batch * conditioning.TextTokens, EncoderHiddenStatesInput, nameof(conditioning));
        long pooledWidth = RowWidth(conditioning.PooledProjections.Length, batch, PooledProjectionsInput, nameof(conditioning));
        Span<long> textShape = [batch, conditioning.TextTokens, textWidth];
        Span<long> pooledShape = [batch, pooledWidth];
        Span<long> batchShape = [batch];
        RequireShapeFits(HiddenStatesInput, hiddenShape, nameof(hiddenStates));
        RequireShapeFits(PredictionOutput, hiddenShape, nameof(prediction));
        RequireShapeFits(EncoderHiddenStatesInput, textShape, nameof(conditioning));
        RequireShapeFits(PooledProjectionsInput, pooledShape, nameof(conditioning));
        RequireNoOverlap(hiddenStates.Span, prediction.Span, nameof(hiddenStates), nameof(prediction));

        OrtIoBinding binding = Binding;
        _hiddenStates.Bind(binding, hiddenStates, hiddenShape);
        _timestep.Bind(binding, timestep, batchShape);
        _encoderHiddenStates.Bind(binding, conditioning.EncoderHiddenStates, textShape);
        _pooled.Bind(binding, conditioning.PooledProjections, pooledShape);
        if (_imageIds is not null)
        {
            long imageTokens = HiddenStatesInput.Rank == 3 ? hiddenShape[1] : 0;
            Span<long> imageIdsShape = [imageTokens, 3];
            Span<long> textIdsShape = [conditioning.TextTokens, 3];
            TensorShape.RequireLength(conditioning.ImageIds.Length, imageIdsShape, ImageIdsInput!.Name, nameof(conditioning));
            TensorShape.RequireLength(conditioning.TextIds.Length, textIdsShape, TextIdsInput!.Name, nameof(conditioning));
            _imageIds.Bind(binding, conditioning.ImageIds, imageIdsShape);
            _textIds!.Bind(binding, conditioning.TextIds, textIdsShape);
        }
        if (_guidance is not null)
        {
            if (conditioning.Guidance is not float guidance)
                throw new ArgumentException($"{ModelPath}: the model embeds a guidance scale ('{GuidanceInput!.Name}'); none was given.", nameof(conditioning));
            _guidance.Bind(binding, guidance, batchShape);
        }
        _prediction.Bind(binding, prediction, hiddenShape);
        _skipLayers?.Bind(binding, _skipMask, [_skipMask.Length]);
        RunBinding(runOptions);
        _prediction.CompleteOutput();
    }

    private long RowWidth(int length, long rows, TensorSpec spec, string parameterName)
    {
        if (length == 0 || length % rows != 0)
            throw new ArgumentException($"{ModelPath}: '{spec.Name}' has {length} values, not a multiple of its {rows} rows.", parameterName);
        return length / rows;
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
        _hiddenStates?.Dispose();
        _timestep?.Dispose();
        _encoderHiddenStates?.Dispose();
        _pooled?.Dispose();
        _imageIds?.Dispose();
        _textIds?.Dispose();
        _guidance?.Dispose();
        _prediction?.Dispose();
        _skipLayers?.Dispose();
    }
}
