using Diffusion.Core.Execution;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// A ControlNet exported on its own (the "split" form, e.g. <c>controlnet/model.onnx</c>): from the latents,
/// timestep, text embeddings and a control image it computes the residuals a split-form <see cref="UNet"/>
/// adds to its skip connections (diffusers' <c>ControlNetModel</c>, guess mode off).
/// </summary>
/// <remarks>
/// <para>Inputs, found by name: <c>sample</c>, <c>timestep</c>, <c>encoder_hidden_states</c> (the UNet's names),
/// <c>controlnet_cond</c> (the control image, float32 <c>[batch, 3, 8·h, 8·w]</c> in [0, 1]) and optionally
/// <c>conditioning_scale</c> (0-D or <c>[1]</c>); without that input the residuals are multiplied by the scale
/// after the run, which is what <c>ControlNetModel</c> does inside. A ControlNet for SDXL
/// (<c>addition_embed_type="text_time"</c>) also takes <c>text_embeds</c> and <c>time_ids</c>
/// (<see cref="ConditioningInputs"/>), the UNet's values.</para>
/// <para>Outputs: the down-block residuals <c>down_block_res_sample_{i}</c> (also <c>down_block_res_samples_{i}</c>,
/// <c>down_block_{i}</c>) and <c>mid_block_res_sample</c>; a model whose outputs carry none of those names
/// (a torch export without <c>output_names</c>) is read in graph order, down residuals first, mid last, as
/// <c>ControlNetModel.forward</c> returns them.</para>
/// <para>Residuals are written into a caller-owned <see cref="ControlNetResiduals"/>. One run
/// at a time per instance.</para>
/// </remarks>
public sealed class ControlNet : OnnxModel
{
    private static readonly string[] s_sampleNames = ["sample", "latent_model_input"];
    private static readonly string[] s_timestepNames = ["timestep", "timesteps", "t"];
    private static readonly string[] s_encoderHiddenStatesNames = ["encoder_hidden_states", "text_embeddings", "context"];
    private static readonly string[] s_controlImageNames = ["controlnet_cond", "control_image", "cond"];
    private static readonly string[] s_scaleNames = ["conditioning_scale", "controlnet_scale", "scale"];

    private readonly BoundFloatTensor _sample;
    private readonly BoundScalarTensor _timestep;
    private readonly BoundFloatTensor _encoderHiddenStates;
    private readonly BoundFloatTensor _controlImage;
    private readonly BoundScalarTensor? _scale;
    private readonly BoundFloatTensor[] _down;
    private readonly BoundFloatTensor _mid;
    private readonly AddedConditioningInputs? _conditioning;

    private ControlNet(string modelPath, SessionSettings settings) : base(modelPath, settings)
    {
        try
        {
            SampleInput = FindInput(s_sampleNames);
            TimestepInput = FindInput(s_timestepNames);
            EncoderHiddenStatesInput = FindInput(s_encoderHiddenStatesNames);
            ControlImageInput = FindInput(s_controlImageNames);
            ConditioningScaleInput = TryFindInput(s_scaleNames);
            _conditioning = new AddedConditioningInputs(ModelPath, Inputs);
            string[] fed = [SampleInput.Name, TimestepInput.Name, EncoderHiddenStatesInput.Name, ControlImageInput.Name];
            RequireNoOtherInputs(_conditioning.AppendNames(ConditioningScaleInput is null ? fed : [.. fed, ConditioningScaleInput.Name]));

            RequireRank(SampleInput, 4, "latents [batch,channels,height,width]");
            RequireFloat(SampleInput);
            RequireRank(EncoderHiddenStatesInput, 3, "text embeddings [batch,sequence,width]");
            RequireFloat(EncoderHiddenStatesInput);
            RequireRank(ControlImageInput, 4, "a control image [batch,3,height,width]");
            RequireFloat(ControlImageInput);
            if (TimestepInput.ElementKind == TensorElementKind.Other || TimestepInput.Rank > 1)
                throw new ModelContractException(ModelPath, TimestepInput.Name, $"expected a 0-D or 1-D float or integer timestep, the model declares {TimestepInput}.");
            if (ConditioningScaleInput is { } scale && (scale.ElementKind is not (TensorElementKind.Float32 or TensorElementKind.Float16) || scale.Rank > 1))
                throw new ModelContractException(ModelPath, scale.Name, $"expected a 0-D or [1] float conditioning scale, the model declares {scale}.");

            (DownBlockResidualOutputs, MidBlockResidualOutput) = FindResidualOutputs();
            foreach (TensorSpec output in DownBlockResidualOutputs)
            {
                RequireRank(output, 4, "a residual [batch,channels,height,width]");
                RequireFloat(output);
            }
            RequireRank(MidBlockResidualOutput, 4, "a residual [batch,channels,height,width]");
            RequireFloat(MidBlockResidualOutput);
            TextEmbeddingWidth = EncoderHiddenStatesInput.GetFixedDimension(2);
            LayersPerBlock = ControlNetResidualNames.ReadLayersPerBlock(ModelPath, DownBlockResidualOutputs);

            _sample = new BoundFloatTensor(SampleInput, isOutput: false);
            _timestep = new BoundScalarTensor(TimestepInput);
            _encoderHiddenStates = new BoundFloatTensor(EncoderHiddenStatesInput, isOutput: false);
            _controlImage = new BoundFloatTensor(ControlImageInput, isOutput: false);
            _scale = ConditioningScaleInput is null ? null : new BoundScalarTensor(ConditioningScaleInput);
            _down = new BoundFloatTensor[DownBlockResidualOutputs.Count];
            for (int i = 0; i < _down.Length; i++)
                _down[i] = new BoundFloatTensor(DownBlockResidualOutputs[i], isOutput: true);
            _mid = new BoundFloatTensor(MidBlockResidualOutput, isOutput: true);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Loads the ControlNet at <paramref name="modelPath"/> and reads its contract.</summary>
    /// <param name="modelPath">Path of the ControlNet's <c>model.onnx</c>.</param>
    /// <param name="settings">Session settings; <see langword="null"/> for <see cref="SessionSettings.Default"/>.</param>
    /// <exception cref="ExecutionProviderUnavailableException">The provider is not available; nothing was loaded.</exception>
    /// <exception cref="ModelLoadException">The file is missing or ONNX Runtime cannot load it.</exception>
    /// <exception cref="ModelContractException">An input is missing, unexpected or of an unsupported type or rank, or the residual outputs cannot be identified.</exception>
    public static ControlNet Load(string modelPath, SessionSettings? settings = null) => new(modelPath, settings ?? SessionSettings.Default);

    /// <summary>The latent input (<c>sample</c>).</summary>
    public TensorSpec SampleInput { get; }

    /// <summary>The timestep input (<c>timestep</c>).</summary>
    public TensorSpec TimestepInput { get; }

    /// <summary>The text-embedding input (<c>encoder_hidden_states</c>).</summary>
    public TensorSpec EncoderHiddenStatesInput { get; }

    /// <summary>The control-image input (<c>controlnet_cond</c>), <c>[batch, 3, 8·h, 8·w]</c> in [0, 1].</summary>
    public TensorSpec ControlImageInput { get; }

    /// <summary>The <c>conditioning_scale</c> input, or <see langword="null"/> when the model has none (the scale is then applied after the run).</summary>
    public TensorSpec? ConditioningScaleInput { get; }

    /// <summary>
    /// The added-conditioning inputs the model declares, in declaration order: SDXL's <c>text_embeds</c> and
    /// <c>time_ids</c> for a ControlNet of an SDXL UNet (diffusers' <c>ControlNetModel</c> with
    /// <c>addition_embed_type="text_time"</c>); empty for SD 1.x/2.x ControlNets.
    /// </summary>
    public IReadOnlyList<TensorSpec> ConditioningInputs => _conditioning?.Specs ?? [];

    /// <summary>The down-block residual outputs in order (12 for SD 1.x/2.x).</summary>
    public IReadOnlyList<TensorSpec> DownBlockResidualOutputs { get; }

    /// <summary>The mid-block residual output (<c>mid_block_res_sample</c>).</summary>
    public TensorSpec MidBlockResidualOutput { get; }

    /// <summary>
    /// ResBlocks per down block (diffusers' <c>layers_per_block</c>, from the <c>config.json</c> beside the model, else 2
    /// as in SD and SDXL): where the residuals halve in size.
    /// </summary>
    public int LayersPerBlock { get; }

    /// <summary>The width of the text embeddings the model expects, or <see langword="null"/> when the axis is dynamic.</summary>
    public int? TextEmbeddingWidth { get; }

    /// <summary>
    /// Allocates residual buffers shaped for this ControlNet's outputs at the given call shape.
    /// </summary>
    /// <exception cref="ModelContractException">An output leaves its channel axis dynamic (then size the buffers from the UNet's inputs).</exception>
    public ControlNetResiduals CreateResiduals(int batch, int height, int width)
    {
        var channels = new int[DownBlockResidualOutputs.Count];
        for (int i = 0; i < channels.Length; i++)
            channels[i] = RequireChannels(DownBlockResidualOutputs[i]);
        return new ControlNetResiduals(channels, RequireChannels(MidBlockResidualOutput), batch, height, width, LayersPerBlock);
    }

    /// <summary>
    /// Runs the ControlNet once and writes its residuals, multiplied by <paramref name="conditioningScale"/>,
    /// into <paramref name="residuals"/>.
    /// </summary>
    /// <param name="sample">Latents as the UNet gets them (scaled by the scheduler), float32 <c>[batch, 4, height, width]</c>.</param>
    /// <param name="batch">Batch size (2 for classifier-free guidance with one prompt).</param>
    /// <param name="height">Latent height.</param>
    /// <param name="width">Latent width.</param>
    /// <param name="timestep">The timestep, converted to the model's type as <see cref="UNet.Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, RunOptions?)"/> does.</param>
    /// <param name="encoderHiddenStates">Text embeddings, float32 <c>[batch, sequenceLength, width]</c>.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="controlImage">The control image, float32 <c>[batch, 3, 8·height, 8·width]</c> in [0, 1].</param>
    /// <param name="conditioningScale">diffusers' <c>controlnet_conditioning_scale</c>: the residuals are multiplied by it.</param>
    /// <param name="residuals">Receives the residuals; its batch and size must match the call.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ArgumentException">A buffer length or shape does not match, or the residuals' count or shapes differ from the model's outputs.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    public void Run(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, Memory<float> controlImage, float conditioningScale,
        ControlNetResiduals residuals, RunOptions? runOptions = null)
        => RunCore(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, null, controlImage, conditioningScale, residuals, runOptions);

    /// <summary>
    /// Runs a ControlNet that takes added conditioning (an SDXL ControlNet: <c>text_embeds</c>, <c>time_ids</c>, the
    /// UNet's values) once; otherwise as <see cref="Run(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, float, ControlNetResiduals, RunOptions?)"/>.
    /// </summary>
    /// <param name="sample">Latents as the UNet gets them (scaled by the scheduler), float32 <c>[batch, 4, height, width]</c>.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="height">Latent height.</param>
    /// <param name="width">Latent width.</param>
    /// <param name="timestep">The timestep.</param>
    /// <param name="encoderHiddenStates">Text embeddings, float32 <c>[batch, sequenceLength, width]</c>.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="conditioning">
    /// Float32 <c>[batch, width]</c> buffers by input name: one per declared <see cref="ConditioningInputs"/> name. Others
    /// are ignored, so the UNet's set (which may also hold LCM's <c>timestep_cond</c>) can be passed as it is.
    /// </param>
    /// <param name="controlImage">The control image, float32 <c>[batch, 3, 8·height, 8·width]</c> in [0, 1].</param>
    /// <param name="conditioningScale">diffusers' <c>controlnet_conditioning_scale</c>: the residuals are multiplied by it.</param>
    /// <param name="residuals">Receives the residuals; its batch and size must match the call.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ArgumentException">A buffer length or shape does not match, a declared conditioning input is missing, or the residuals differ from the model's outputs.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    public void Run(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, IReadOnlyDictionary<string, Memory<float>> conditioning,
        Memory<float> controlImage, float conditioningScale, ControlNetResiduals residuals, RunOptions? runOptions = null)
    {
        ArgumentNullException.ThrowIfNull(conditioning);
        RunCore(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, conditioning, controlImage, conditioningScale, residuals, runOptions);
    }

    private void RunCore(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, IReadOnlyDictionary<string, Memory<float>>? conditioning,
        Memory<float> controlImage, float conditioningScale, ControlNetResiduals residuals, RunOptions? runOptions)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(residuals);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        if (residuals.DownBlockCount != _down.Length)
            throw new ArgumentException($"{ModelPath}: the model has {_down.Length} down-block residual outputs, the buffers hold {residuals.DownBlockCount}.", nameof(residuals));
        if (residuals.Batch != batch || residuals.Height != height || residuals.Width != width)
            throw new ArgumentException($"{ModelPath}: the residual buffers are for batch {residuals.Batch}, {residuals.Height}x{residuals.Width} latents; the call is batch {batch}, {height}x{width}.", nameof(residuals));

        int channels = SampleInput.GetFixedDimension(1) ?? 4;
        Span<long> sampleShape = [batch, channels, height, width];
        TensorShape.RequireLength(sample.Length, sampleShape, SampleInput.Name, nameof(sample));
        Span<long> imageShape = [batch, 3, 8L * height, 8L * width];
        TensorShape.RequireLength(controlImage.Length, imageShape, ControlImageInput.Name, nameof(controlImage));
        long embeddingWidth = TextEmbeddingWidth ?? (encoderHiddenStates.Length % ((long)batch * sequenceLength) == 0 && encoderHiddenStates.Length > 0
            ? encoderHiddenStates.Length / ((long)batch * sequenceLength)
            : throw new ArgumentException($"{ModelPath}: '{EncoderHiddenStatesInput.Name}' has {encoderHiddenStates.Length} elements, not a multiple of batch × sequence.", nameof(encoderHiddenStates)));
        Span<long> embeddingShape = [batch, sequenceLength, embeddingWidth];
        TensorShape.RequireLength(encoderHiddenStates.Length, embeddingShape, EncoderHiddenStatesInput.Name, nameof(encoderHiddenStates));
        RequireShapeFits(SampleInput, sampleShape, nameof(sample));
        RequireShapeFits(ControlImageInput, imageShape, nameof(controlImage));
        RequireShapeFits(EncoderHiddenStatesInput, embeddingShape, nameof(encoderHiddenStates));
        for (int i = 0; i < _down.Length; i++)
            RequireShapeFits(DownBlockResidualOutputs[i], residuals.GetDownBlockShape(i), nameof(residuals));
        RequireShapeFits(MidBlockResidualOutput, residuals.MidBlockShape, nameof(residuals));

        OrtIoBinding binding = Binding;
        _sample.Bind(binding, sample, sampleShape);
        Span<long> timestepBuffer = [batch];
        _timestep.Bind(binding, timestep, VectorShape(TimestepInput, batch, timestepBuffer));
        _encoderHiddenStates.Bind(binding, encoderHiddenStates, embeddingShape);
        _controlImage.Bind(binding, controlImage, imageShape);
        _conditioning!.Bind(binding, batch, conditioning, nameof(conditioning), undeclaredAllowed: true);
        if (_scale is not null)
        {
            Span<long> scaleBuffer = [1];
            _scale.Bind(binding, conditioningScale, ConditioningScaleInput!.Rank == 0 ? [] : scaleBuffer);
        }
        for (int i = 0; i < _down.Length; i++)
            _down[i].Bind(binding, residuals.GetDownBlock(i), residuals.GetDownBlockShape(i));
        _mid.Bind(binding, residuals.MidBlock, residuals.MidBlockShape);
        RunBinding(runOptions);
        for (int i = 0; i < _down.Length; i++)
            _down[i].CompleteOutput();
        _mid.CompleteOutput();
        if (_scale is null && conditioningScale != 1f)
            residuals.Scale(conditioningScale);
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
        _controlImage?.Dispose();
        _scale?.Dispose();
        if (_down is not null)
        {
            foreach (BoundFloatTensor tensor in _down)
                tensor?.Dispose();
        }
        _mid?.Dispose();
        _conditioning?.Dispose();
    }

    /// <summary>The shape of a per-batch vector input: 0-D, its fixed length (1 or the batch), else <c>[batch]</c>.</summary>
    private ReadOnlySpan<long> VectorShape(TensorSpec spec, int batch, Span<long> buffer)
    {
        if (spec.Rank == 0)
            return [];
        if (spec.GetFixedDimension(0) is int fixedLength)
        {
            if (fixedLength != 1 && fixedLength != batch)
                throw new ArgumentException($"{ModelPath}: the model fixes '{spec.Name}' to [{fixedLength}], which is neither 1 nor the batch size {batch}.", nameof(batch));
            buffer[0] = fixedLength;
        }
        return buffer;
    }

    private int RequireChannels(TensorSpec output)
        => output.GetFixedDimension(1)
           ?? throw new ModelContractException(ModelPath, output.Name, $"the channel axis of {output} is dynamic; size the residual buffers from the UNet's inputs.");

    private (IReadOnlyList<TensorSpec> Down, TensorSpec Mid) FindResidualOutputs()
    {
        List<TensorSpec> down = ControlNetResidualNames.FindDown(Outputs, ControlNetResidualNames.DownOutputCandidates);
        TensorSpec? mid = ControlNetResidualNames.Find(Outputs, ControlNetResidualNames.MidOutputNames);
        if (down.Count > 0 && mid is not null && down.Count + 1 == Outputs.Count)
            return (down, mid);
        if (down.Count == 0 && mid is null && Outputs.Count >= 2)
        {
            // Unnamed outputs: ControlNetModel.forward returns (down_block_res_samples, mid_block_res_sample).
            var ordered = new TensorSpec[Outputs.Count - 1];
            for (int i = 0; i < ordered.Length; i++)
                ordered[i] = Outputs[i];
            return (ordered, Outputs[^1]);
        }
        string outputs = string.Join("; ", Outputs);
        throw new ModelContractException(ModelPath, mid is null ? "mid_block_res_sample" : "down_block_res_sample_0",
            $"expected down-block residual outputs down_block_res_sample_0, 1, … and mid_block_res_sample (and no other outputs); the model's outputs are {outputs}.");
    }
}
