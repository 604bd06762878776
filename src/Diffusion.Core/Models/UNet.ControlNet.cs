using Diffusion.Core.Execution;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

// ControlNet inputs of the UNet, in both export forms:
// * split: 12 (SD 1.x/2.x) down-block residual inputs + the mid-block residual input, fed by a separate ControlNet;
// * fused (diffusers' scripts/convert_stable_diffusion_controlnet_to_onnx.py): the ControlNets are inside the UNet
//   graph, which takes the control images as controlnet_conds [n, batch, 3, 8h, 8w] and their scales as
//   conditioning_scales [n, 1].
// A plain Predict on such a UNet feeds zero residuals (or zero images at scale 0), i.e. no control.
public sealed partial class UNet
{
    private static readonly string[] s_controlNetConditionsNames = ["controlnet_conds", "controlnet_cond"];
    private static readonly string[] s_controlNetScalesNames = ["conditioning_scales", "controlnet_scales", "conditioning_scale"];

    private TensorSpec[] _downResidualInputs = [];
    private TensorSpec? _midResidualInput;
    private TensorSpec? _controlNetConditionsInput;
    private TensorSpec? _controlNetScalesInput;
    private BoundFloatTensor[] _downResidualBindings = [];
    private BoundFloatTensor? _midResidualBinding;
    private BoundFloatTensor? _controlNetConditionsBinding;
    private BoundFloatTensor? _controlNetScalesBinding;
    private ControlNetResiduals? _pendingResiduals;
    private ControlNetResiduals? _zeroResiduals;
    private Memory<float> _pendingConditions;
    private bool _hasPendingConditions;
    private float[] _controlNetScales = [];
    private float[] _zeroConditions = [];

    /// <summary>The split form's down-block residual inputs in order (e.g. <c>down_block_{i}_additional_residual</c>); empty for other UNets.</summary>
    public IReadOnlyList<TensorSpec> DownBlockResidualInputs => _downResidualInputs;

    /// <summary>The split form's mid-block residual input (<c>mid_block_additional_residual</c>), or <see langword="null"/>.</summary>
    public TensorSpec? MidBlockResidualInput => _midResidualInput;

    /// <summary>
    /// ResBlocks per down block (diffusers' <c>layers_per_block</c>, from the <c>config.json</c> beside the model, else 2
    /// as in SD and SDXL): where the residual inputs halve in size. Meaningful for the split form only.
    /// </summary>
    public int ResidualLayersPerBlock { get; private set; } = ControlNetResidualNames.DefaultLayersPerBlock;

    /// <summary>Whether the UNet takes ControlNet residuals as inputs (split form): use <see cref="PredictWithControlNet(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, ControlNetResiduals, RunOptions?)"/>.</summary>
    public bool AcceptsControlNetResiduals => _midResidualInput is not null;

    /// <summary>The fused form's control-image input (<c>controlnet_conds</c>, <c>[n, batch, 3, 8·h, 8·w]</c>), or <see langword="null"/>.</summary>
    public TensorSpec? ControlNetConditionsInput => _controlNetConditionsInput;

    /// <summary>The fused form's scale input (<c>conditioning_scales</c>, <c>[n, 1]</c> or <c>[n]</c>), or <see langword="null"/>.</summary>
    public TensorSpec? ControlNetScalesInput => _controlNetScalesInput;

    /// <summary>Whether ControlNets are fused into the UNet graph (it takes control images, not residuals).</summary>
    public bool IsFusedControlNet => _controlNetConditionsInput is not null;

    /// <summary>How many ControlNets a fused UNet contains (the fixed first axis of its inputs), or <see langword="null"/> when not fused or not fixed.</summary>
    public int? FusedControlNetCount =>
        _controlNetConditionsInput?.GetFixedDimension(0) ?? (_controlNetScalesInput is { Rank: > 0 } scales ? scales.GetFixedDimension(0) : null);

    /// <summary>
    /// Allocates zeroed residual buffers shaped for this UNet's residual inputs at the given call shape.
    /// </summary>
    /// <exception cref="InvalidOperationException">The UNet has no residual inputs.</exception>
    /// <exception cref="ModelContractException">An input leaves its channel axis dynamic (size the buffers from the ControlNet: <see cref="ControlNet.CreateResiduals"/>).</exception>
    public ControlNetResiduals CreateControlNetResiduals(int batch, int height, int width)
    {
        if (_midResidualInput is null)
            throw new InvalidOperationException($"{ModelPath}: the UNet has no ControlNet residual inputs.");
        var channels = new int[_downResidualInputs.Length];
        for (int i = 0; i < channels.Length; i++)
            channels[i] = RequireResidualChannels(_downResidualInputs[i]);
        return new ControlNetResiduals(channels, RequireResidualChannels(_midResidualInput), batch, height, width, ResidualLayersPerBlock);
    }

    /// <summary>
    /// Runs a split-form UNet with ControlNet residuals added to its skip connections (diffusers'
    /// <c>down_block_additional_residuals</c> / <c>mid_block_additional_residual</c>). Otherwise as
    /// <see cref="Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, RunOptions?)"/>.
    /// </summary>
    /// <param name="sample">Latents, float32 <c>[batch, InChannels, height, width]</c>.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="height">Latent height.</param>
    /// <param name="width">Latent width.</param>
    /// <param name="timestep">The timestep.</param>
    /// <param name="encoderHiddenStates">Text embeddings, float32 <c>[batch, sequenceLength, width]</c>.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="noisePrediction">Receives the prediction.</param>
    /// <param name="residuals">The summed, scaled residuals of the ControlNets, for this batch and size.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ModelContractException">The UNet has no residual inputs.</exception>
    /// <exception cref="ArgumentException">A buffer does not match the shapes, or the residuals do not fit the UNet's inputs.</exception>
    public void PredictWithControlNet(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, Memory<float> noisePrediction,
        ControlNetResiduals residuals, RunOptions? runOptions = null)
        => PredictWithResiduals(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, null, noisePrediction, residuals, runOptions);

    /// <summary>
    /// Runs a split-form UNet that also takes added conditioning (an SDXL UNet: <c>text_embeds</c>, <c>time_ids</c>)
    /// with ControlNet residuals added to its skip connections. Otherwise as
    /// <see cref="PredictWithControlNet(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, ControlNetResiduals, RunOptions?)"/>.
    /// </summary>
    /// <param name="sample">Latents, float32 <c>[batch, InChannels, height, width]</c>.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="height">Latent height.</param>
    /// <param name="width">Latent width.</param>
    /// <param name="timestep">The timestep.</param>
    /// <param name="encoderHiddenStates">Text embeddings, float32 <c>[batch, sequenceLength, width]</c>.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="conditioning">One float32 <c>[batch, width]</c> buffer per declared <see cref="ConditioningInputs"/> name, no others.</param>
    /// <param name="noisePrediction">Receives the prediction.</param>
    /// <param name="residuals">The summed, scaled residuals of the ControlNets, for this batch and size.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ModelContractException">The UNet has no residual inputs.</exception>
    /// <exception cref="ArgumentException">A buffer does not match the shapes, a declared conditioning input is missing or an undeclared one given, or the residuals do not fit the UNet's inputs.</exception>
    public void PredictWithControlNet(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, IReadOnlyDictionary<string, Memory<float>> conditioning,
        Memory<float> noisePrediction, ControlNetResiduals residuals, RunOptions? runOptions = null)
    {
        ArgumentNullException.ThrowIfNull(conditioning);
        _conditioning!.RequireOnlyDeclared(conditioning, nameof(conditioning));
        PredictWithResiduals(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, conditioning, noisePrediction, residuals, runOptions);
    }

    private void PredictWithResiduals(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, IReadOnlyDictionary<string, Memory<float>>? conditioning,
        Memory<float> noisePrediction, ControlNetResiduals residuals, RunOptions? runOptions)
    {
        ArgumentNullException.ThrowIfNull(residuals);
        if (_midResidualInput is null)
            throw new ModelContractException(ModelPath, "down_block_0_additional_residual",
                "the UNet has no ControlNet residual inputs; export it with down_block_{i}_additional_residual and mid_block_additional_residual inputs, or use a fused UNet.");
        if (residuals.DownBlockCount != _downResidualInputs.Length)
            throw new ArgumentException($"{ModelPath}: the UNet takes {_downResidualInputs.Length} down-block residuals, got {residuals.DownBlockCount}.", nameof(residuals));
        if (residuals.Batch != batch || residuals.Height != height || residuals.Width != width)
            throw new ArgumentException($"{ModelPath}: the residuals are for batch {residuals.Batch}, {residuals.Height}x{residuals.Width} latents; the call is batch {batch}, {height}x{width}.", nameof(residuals));
        _pendingResiduals = residuals;
        try
        {
            PredictCore(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, noisePrediction, runOptions, conditioning);
        }
        finally
        {
            _pendingResiduals = null;
        }
    }

    /// <summary>
    /// Runs a fused ControlNet UNet (diffusers' <c>convert_stable_diffusion_controlnet_to_onnx.py</c>) with one control
    /// image per contained ControlNet and their scales (0 turns a ControlNet off). Otherwise as <see cref="Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, RunOptions?)"/>.
    /// </summary>
    /// <param name="sample">Latents, float32 <c>[batch, InChannels, height, width]</c>.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="height">Latent height.</param>
    /// <param name="width">Latent width.</param>
    /// <param name="timestep">The timestep.</param>
    /// <param name="encoderHiddenStates">Text embeddings, float32 <c>[batch, sequenceLength, width]</c>.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="noisePrediction">Receives the prediction.</param>
    /// <param name="controlImages">float32 <c>[n, batch, 3, 8·height, 8·width]</c> in [0, 1], ControlNet-major.</param>
    /// <param name="conditioningScales">One scale per contained ControlNet (<c>n</c> values).</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ModelContractException">The UNet is not a fused ControlNet UNet.</exception>
    /// <exception cref="ArgumentException">A buffer does not match the shapes or <c>n</c>.</exception>
    public void PredictWithControlNet(Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, Memory<float> noisePrediction,
        Memory<float> controlImages, ReadOnlySpan<float> conditioningScales, RunOptions? runOptions = null)
    {
        if (_controlNetConditionsInput is null)
            throw new ModelContractException(ModelPath, s_controlNetConditionsNames[0], "the UNet has no fused ControlNet inputs (controlnet_conds, conditioning_scales).");
        int count = FusedControlNetCount ?? conditioningScales.Length;
        if (conditioningScales.Length != count)
            throw new ArgumentException($"{ModelPath}: the UNet contains {count} ControlNets; got {conditioningScales.Length} scales.", nameof(conditioningScales));
        if (_controlNetScales.Length != count)
            _controlNetScales = new float[count];
        conditioningScales.CopyTo(_controlNetScales);
        _pendingConditions = controlImages;
        _hasPendingConditions = true;
        try
        {
            Predict(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, noisePrediction, runOptions);
        }
        finally
        {
            _pendingConditions = default;
            _hasPendingConditions = false;
        }
    }

    /// <summary>Finds the ControlNet inputs (called by the constructor before it checks for unexpected inputs).</summary>
    private void InitializeControlNetInputs()
    {
        List<TensorSpec> down = ControlNetResidualNames.FindDown(Inputs, ControlNetResidualNames.DownInputCandidates);
        TensorSpec? mid = ControlNetResidualNames.Find(Inputs, ControlNetResidualNames.MidInputNames);
        if (down.Count > 0 != mid is not null)
            throw new ModelContractException(ModelPath, mid is null ? "mid_block_additional_residual" : down.Count == 0 ? "down_block_0_additional_residual" : mid.Name,
                "a split ControlNet UNet needs both the down-block residual inputs (down_block_{i}_additional_residual, i = 0, 1, …) and mid_block_additional_residual.");
        if (mid is not null)
        {
            foreach (TensorSpec input in down)
            {
                RequireRank(input, 4, "a residual [batch,channels,height,width]");
                RequireFloat(input);
            }
            RequireRank(mid, 4, "a residual [batch,channels,height,width]");
            RequireFloat(mid);
            _downResidualInputs = down.ToArray();
            _midResidualInput = mid;
            ResidualLayersPerBlock = ControlNetResidualNames.ReadLayersPerBlock(ModelPath, down);
            _downResidualBindings = new BoundFloatTensor[down.Count];
            for (int i = 0; i < down.Count; i++)
                _downResidualBindings[i] = new BoundFloatTensor(down[i], isOutput: false);
            _midResidualBinding = new BoundFloatTensor(mid, isOutput: false);
        }

        TensorSpec? conditions = TryFindInput(s_controlNetConditionsNames);
        TensorSpec? scales = TryFindInput(s_controlNetScalesNames);
        if (conditions is null && scales is null)
            return;
        if (conditions is null || scales is null)
            throw new ModelContractException(ModelPath, conditions is null ? s_controlNetConditionsNames[0] : s_controlNetScalesNames[0],
                "a fused ControlNet UNet needs both controlnet_conds [n,batch,3,H,W] and conditioning_scales [n,1].");
        RequireRank(conditions, 5, "control images [controlnets,batch,3,height,width]");
        RequireFloat(conditions);
        RequireFloat(scales);
        if (scales.Rank is not (1 or 2))
            throw new ModelContractException(ModelPath, scales.Name, $"expected conditioning scales [n,1] or [n], the model declares {scales}.");
        _controlNetConditionsInput = conditions;
        _controlNetScalesInput = scales;
        _controlNetConditionsBinding = new BoundFloatTensor(conditions, isOutput: false);
        _controlNetScalesBinding = new BoundFloatTensor(scales, isOutput: false);
    }

    /// <summary><paramref name="names"/> plus the ControlNet inputs this UNet feeds.</summary>
    private string[] WithControlNetInputNames(params string[] names)
    {
        var all = new List<string>(names);
        foreach (TensorSpec input in _downResidualInputs)
            all.Add(input.Name);
        if (_midResidualInput is not null)
            all.Add(_midResidualInput.Name);
        if (_controlNetConditionsInput is not null)
            all.Add(_controlNetConditionsInput.Name);
        if (_controlNetScalesInput is not null)
            all.Add(_controlNetScalesInput.Name);
        return all.ToArray();
    }

    /// <summary>Binds the ControlNet inputs for the call (zeros when the caller passed none).</summary>
    private void BindControlNetInputs(OrtIoBinding binding, int batch, int height, int width)
    {
        if (_midResidualInput is not null)
            BindResiduals(binding, batch, height, width);
        if (_controlNetConditionsInput is not null)
            BindFusedConditions(binding, batch, height, width);
    }

    private void BindResiduals(OrtIoBinding binding, int batch, int height, int width)
    {
        ControlNetResiduals? residuals = _pendingResiduals;
        if (residuals is null)
        {
            if (_zeroResiduals is null || _zeroResiduals.Batch != batch || _zeroResiduals.Height != height || _zeroResiduals.Width != width)
                _zeroResiduals = CreateControlNetResiduals(batch, height, width);
            residuals = _zeroResiduals;
        }
        for (int i = 0; i < _downResidualInputs.Length; i++)
        {
            RequireShapeFits(_downResidualInputs[i], residuals.GetDownBlockShape(i), "residuals");
            _downResidualBindings[i].Bind(binding, residuals.GetDownBlock(i), residuals.GetDownBlockShape(i));
        }
        RequireShapeFits(_midResidualInput!, residuals.MidBlockShape, "residuals");
        _midResidualBinding!.Bind(binding, residuals.MidBlock, residuals.MidBlockShape);
    }

    private void BindFusedConditions(OrtIoBinding binding, int batch, int height, int width)
    {
        int count = FusedControlNetCount ?? (_hasPendingConditions ? _controlNetScales.Length : 1);
        Span<long> imageShape = [count, batch, 3, 8L * height, 8L * width];
        Memory<float> images;
        if (_hasPendingConditions)
        {
            images = _pendingConditions;
        }
        else
        {
            int length = TensorShape.ElementCount(imageShape);
            if (_zeroConditions.Length != length)
                _zeroConditions = new float[length];
            if (_controlNetScales.Length != count)
                _controlNetScales = new float[count];
            Array.Clear(_controlNetScales);
            images = _zeroConditions;
        }
        TensorShape.RequireLength(images.Length, imageShape, _controlNetConditionsInput!.Name, "controlImages");
        RequireShapeFits(_controlNetConditionsInput, imageShape, "controlImages");
        Span<long> scaleShape = [count, 1];
        ReadOnlySpan<long> scales = _controlNetScalesInput!.Rank == 2 ? scaleShape : scaleShape[..1];
        RequireShapeFits(_controlNetScalesInput, scales, "conditioningScales");
        _controlNetConditionsBinding!.Bind(binding, images, imageShape);
        _controlNetScalesBinding!.Bind(binding, _controlNetScales, scales);
    }

    private int RequireResidualChannels(TensorSpec input)
        => input.GetFixedDimension(1)
           ?? throw new ModelContractException(ModelPath, input.Name, $"the channel axis of {input} is dynamic; size the residual buffers from the ControlNet's outputs.");

    private void DisposeControlNetInputs()
    {
        foreach (BoundFloatTensor tensor in _downResidualBindings)
            tensor.Dispose();
        _midResidualBinding?.Dispose();
        _controlNetConditionsBinding?.Dispose();
        _controlNetScalesBinding?.Dispose();
    }
}
