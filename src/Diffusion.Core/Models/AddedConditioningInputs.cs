using Diffusion.Core.Execution;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// A denoiser's added-conditioning inputs, bound by the names the model declares: SDXL's pooled text embeddings
/// <c>text_embeds</c> [batch, pooled width] and <c>time_ids</c> [batch, 6 or 5] (diffusers'
/// <c>addition_embed_type="text_time"</c>) and LCM's guidance embedding <c>timestep_cond</c> [batch, dim].
/// The UNet and a split-form ControlNet take the same ones, so both read and bind them here.
/// </summary>
internal sealed class AddedConditioningInputs : IDisposable
{
    /// <summary>The added-conditioning inputs known, by the names optimum exports them with.</summary>
    public static IReadOnlyList<string> KnownNames { get; } = ["text_embeds", "time_ids", "timestep_cond"];

    private readonly string _modelPath;
    private readonly TensorSpec[] _specs;
    private readonly BoundFloatTensor[] _bound;

    /// <summary>Finds the known inputs among <paramref name="inputs"/>; SDXL's two come together or not at all.</summary>
    /// <exception cref="ModelContractException">An input is not a float [batch, width] tensor, or only one of text_embeds and time_ids is declared.</exception>
    public AddedConditioningInputs(string modelPath, IReadOnlyList<TensorSpec> inputs)
    {
        _modelPath = modelPath;
        var found = new List<TensorSpec>();
        foreach (TensorSpec input in inputs)
        {
            if (!KnownNames.Contains(input.Name))
                continue;
            if (input.Rank != 2)
                throw new ModelContractException(modelPath, input.Name, $"expected a conditioning vector per latent [batch, width] of rank 2, the model declares {input}.");
            if (input.ElementKind is not (TensorElementKind.Float32 or TensorElementKind.Float16))
                throw new ModelContractException(modelPath, input.Name, $"expected a float32 or float16 tensor, the model declares {input}.");
            found.Add(input);
        }
        bool textEmbeds = found.Exists(i => i.Name == "text_embeds");
        bool timeIds = found.Exists(i => i.Name == "time_ids");
        if (textEmbeds != timeIds)
        {
            string missing = textEmbeds ? "time_ids" : "text_embeds";
            throw new ModelContractException(modelPath, missing,
                $"the model declares {(textEmbeds ? "text_embeds" : "time_ids")} but not {missing}; an SDXL model (addition_embed_type \"text_time\") takes both.");
        }
        _specs = [.. found];
        _bound = [.. found.Select(spec => new BoundFloatTensor(spec, isOutput: false))];
    }

    /// <summary>The declared inputs, in declaration order (empty for SD 1.x/2.x models).</summary>
    public IReadOnlyList<TensorSpec> Specs => _specs;

    /// <summary>The declared input named <paramref name="name"/>, or <see langword="null"/>.</summary>
    public TensorSpec? Find(string name)
    {
        foreach (TensorSpec input in _specs)
        {
            if (input.Name == name)
                return input;
        }
        return null;
    }

    /// <summary><paramref name="names"/> followed by the declared inputs' names (the inputs a wrapper feeds).</summary>
    public string[] AppendNames(params string[] names) => [.. names, .. _specs.Select(i => i.Name)];

    /// <summary>
    /// Throws when <paramref name="conditioning"/> names an input the model does not declare. Binding finds every
    /// declared input, so such a key shows as a count above the declared one; the keys are walked only then
    /// (enumerating the interface every step would allocate in the loop).
    /// </summary>
    public void RequireOnlyDeclared(IReadOnlyDictionary<string, Memory<float>> conditioning, string parameterName)
    {
        if (conditioning.Count > _specs.Length)
            RequireDeclared(conditioning, parameterName);
    }

    /// <summary>
    /// Binds one <c>[batch, width]</c> buffer per declared input. Keys the model does not declare are not bound; when a
    /// declared one is missing they are named first unless <paramref name="undeclaredAllowed"/> (a ControlNet is passed
    /// the UNet's whole set).
    /// </summary>
    /// <exception cref="ArgumentException">A declared input is missing or its buffer does not fit.</exception>
    public void Bind(OrtIoBinding binding, int batch, IReadOnlyDictionary<string, Memory<float>>? conditioning, string parameterName,
        bool undeclaredAllowed = false)
    {
        for (int k = 0; k < _specs.Length; k++)
        {
            TensorSpec spec = _specs[k];
            if (conditioning is null || !conditioning.TryGetValue(spec.Name, out Memory<float> values))
            {
                if (conditioning is not null && !undeclaredAllowed)
                    RequireDeclared(conditioning, parameterName); // an unknown name in place of a declared one is named first
                throw new ArgumentException(
                    $"{_modelPath}: the model takes '{spec.Name}' ({Describe()}); pass it through the conditioning argument.", parameterName);
            }
            long columns = spec.GetFixedDimension(1) ?? (values.Length % batch == 0 && values.Length > 0 ? values.Length / batch : -1);
            if (columns <= 0)
                throw new ArgumentException($"{_modelPath}: '{spec.Name}' has {values.Length} values, not a multiple of the batch size {batch}.", parameterName);
            Span<long> shape = [batch, columns];
            TensorShape.RequireLength(values.Length, shape, spec.Name, parameterName);
            if (spec.GetFixedDimension(0) is int fixedBatch && fixedBatch != batch)
                throw new ArgumentException($"{_modelPath}: '{spec.Name}' is declared {spec}; the shape [{batch},{columns}] does not fit it.", parameterName);
            _bound[k].Bind(binding, values, shape);
        }
    }

    /// <summary>The declared inputs, for messages ("none" when there are none).</summary>
    public string Describe() => _specs.Length == 0 ? "none" : string.Join(", ", _specs.Select(i => i.ToString()));

    public void Dispose()
    {
        foreach (BoundFloatTensor tensor in _bound)
            tensor.Dispose();
    }

    private void RequireDeclared(IReadOnlyDictionary<string, Memory<float>> conditioning, string parameterName)
    {
        foreach (string name in conditioning.Keys)
        {
            if (Find(name) is null)
                throw new ArgumentException($"{_modelPath}: the model declares no conditioning input '{name}' (it takes: {Describe()}).", parameterName);
        }
    }
}
