using Diffusion.Core.Execution;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// The UNet's added-conditioning inputs, bound by the names the model declares: SDXL's pooled text embeddings
/// <c>text_embeds</c> [batch, pooled width] and <c>time_ids</c> [batch, 6 or 5] (diffusers'
/// <c>addition_embed_type="text_time"</c>), and LCM's guidance embedding <c>timestep_cond</c> [batch, dim].
/// </summary>
public sealed partial class UNet
{
    /// <summary>The added-conditioning inputs this wrapper knows, by the names optimum exports them with.</summary>
    public static IReadOnlyList<string> KnownConditioningInputNames { get; } = ["text_embeds", "time_ids", "timestep_cond"];

    private TensorSpec[] _conditioningInputs = [];
    private BoundFloatTensor[] _conditioning = [];

    /// <summary>The added-conditioning inputs the model declares (empty for SD 1.x/2.x UNets), in declaration order.</summary>
    public IReadOnlyList<TensorSpec> ConditioningInputs => _conditioningInputs;

    /// <summary>Finds the declared conditioning inputs; SDXL's two come together or not at all.</summary>
    private void InitializeConditioningInputs()
    {
        var found = new List<TensorSpec>();
        foreach (TensorSpec input in Inputs)
        {
            if (!KnownConditioningInputNames.Contains(input.Name))
                continue;
            RequireRank(input, 2, "a conditioning vector per latent [batch, width]");
            RequireFloat(input);
            found.Add(input);
        }
        bool textEmbeds = found.Exists(i => i.Name == "text_embeds");
        bool timeIds = found.Exists(i => i.Name == "time_ids");
        if (textEmbeds != timeIds)
        {
            string missing = textEmbeds ? "time_ids" : "text_embeds";
            throw new ModelContractException(ModelPath, missing,
                $"the model declares {(textEmbeds ? "text_embeds" : "time_ids")} but not {missing}; an SDXL UNet (addition_embed_type \"text_time\") takes both.");
        }
        _conditioningInputs = [.. found];
        _conditioning = [.. found.Select(spec => new BoundFloatTensor(spec, isOutput: false))];
    }

    /// <summary>The declared conditioning input named <paramref name="name"/>, or <see langword="null"/>.</summary>
    public TensorSpec? FindConditioningInput(string name)
    {
        foreach (TensorSpec input in _conditioningInputs)
        {
            if (input.Name == name)
                return input;
        }
        return null;
    }

    /// <summary>
    /// True for a latent consistency (LCM) UNet: it takes the guidance scale as an embedding (<c>timestep_cond</c>), so
    /// pipelines run no classifier-free guidance with it (diffusers' rule when <c>time_cond_proj_dim</c> is set).
    /// </summary>
    public bool TakesGuidanceEmbedding => FindConditioningInput("timestep_cond") is not null;

    private string[] WithConditioningInputNames(string[] names) => [.. names, .. _conditioningInputs.Select(i => i.Name)];

    /// <summary>
    /// Runs the UNet once with added conditioning (SDXL's <c>text_embeds</c> and <c>time_ids</c>, LCM's
    /// <c>timestep_cond</c>), otherwise as <see cref="Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, RunOptions?)"/>.
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
    /// <param name="runOptions">Run options (cancellation).</param>
    /// <exception cref="ArgumentException">A declared conditioning input is missing, one is given that the model does not declare, or a length does not fit.</exception>
    public void Predict(Memory<float> sample, int batch, int height, int width, float timestep, Memory<float> encoderHiddenStates,
        int sequenceLength, IReadOnlyDictionary<string, Memory<float>> conditioning, Memory<float> noisePrediction, RunOptions? runOptions = null)
    {
        ArgumentNullException.ThrowIfNull(conditioning);
        // Binding finds every declared input, so a key the model does not declare shows as a count above the declared
        // one; the keys are walked only then (enumerating the interface every step would allocate in the loop).
        if (conditioning.Count > _conditioningInputs.Length)
            RequireDeclared(conditioning);
        PredictCore(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, noisePrediction, runOptions, conditioning);
    }

    private void BindConditioning(OrtIoBinding binding, int batch, IReadOnlyDictionary<string, Memory<float>>? conditioning)
    {
        for (int k = 0; k < _conditioningInputs.Length; k++)
        {
            TensorSpec spec = _conditioningInputs[k];
            if (conditioning is null || !conditioning.TryGetValue(spec.Name, out Memory<float> values))
            {
                if (conditioning is not null)
                    RequireDeclared(conditioning); // an unknown name in place of a declared one is named first
                throw new ArgumentException(
                    $"{ModelPath}: the model takes '{spec.Name}' ({DescribeConditioning()}); pass it through Predict's conditioning argument.", nameof(conditioning));
            }
            long columns = spec.GetFixedDimension(1) ?? (values.Length % batch == 0 && values.Length > 0 ? values.Length / batch : -1);
            if (columns <= 0)
                throw new ArgumentException($"{ModelPath}: '{spec.Name}' has {values.Length} values, not a multiple of the batch size {batch}.", nameof(conditioning));
            Span<long> shape = [batch, columns];
            TensorShape.RequireLength(values.Length, shape, spec.Name, nameof(conditioning));
            RequireShapeFits(spec, shape, nameof(conditioning));
            _conditioning[k].Bind(binding, values, shape);
        }
    }

    private void RequireDeclared(IReadOnlyDictionary<string, Memory<float>> conditioning)
    {
        foreach (string name in conditioning.Keys)
        {
            if (!DeclaresConditioning(name))
                throw new ArgumentException($"{ModelPath}: the model declares no conditioning input '{name}' (it takes: {DescribeConditioning()}).", nameof(conditioning));
        }
    }

    private bool DeclaresConditioning(string name) => FindConditioningInput(name) is not null;

    private string DescribeConditioning()
        => _conditioningInputs.Length == 0 ? "none" : string.Join(", ", _conditioningInputs.Select(i => i.ToString()));

    private void DisposeConditioningInputs()
    {
        foreach (BoundFloatTensor tensor in _conditioning)
            tensor.Dispose();
    }
}
