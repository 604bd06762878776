using Diffusion.Core.Models;
using Diffusion.Core.Adapters;
using Diffusion.Core.Execution;
using Diffusion.Core.Tokenization;
using Diffusion.Core.Weights;
using Microsoft.Extensions.Logging;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The LoRAs and textual inversions a pipeline's sessions were created with: the weight overrides (kept alive as long
/// as the sessions that use them), which LoRA set each component has, and the prompt-side token expansion.
/// </summary>
internal sealed class PipelineAdapters : IDisposable
{
    private readonly Dictionary<string, LoraAdapter> _adapters = new(StringComparer.Ordinal);
    private readonly ILogger? _logger;
    private readonly WeightOverrides?[] _textualInversions = new WeightOverrides?[2];
    private IReadOnlyList<TextualInversionEmbedding> _embeddings = [];

    public PipelineAdapters(ILogger? logger) => _logger = logger;

    /// <summary>The UNet's current LoRA set and its merged weights (null when the set is empty).</summary>
    public ComponentLoras UNet { get; } = new(LoraTarget.UNet);

    /// <summary>The text encoder's current LoRA set and its merged weights.</summary>
    public ComponentLoras TextEncoder { get; } = new(LoraTarget.TextEncoder);

    /// <summary>SDXL's second text encoder's current LoRA set (kohya <c>lora_te2_</c>, diffusers <c>text_encoder_2.</c>).</summary>
    public ComponentLoras TextEncoder2 { get; } = new(LoraTarget.TextEncoder2);

    /// <summary>The SD3/FLUX.1 transformer's LoRAs.</summary>
    public ComponentLoras Transformer { get; } = new(LoraTarget.Transformer);

    /// <summary>Reports of the LoRA sets in effect: UNet, text encoder, second text encoder, transformer.</summary>
    public IReadOnlyList<LoraApplicationReport> Reports
    {
        get
        {
            var reports = new List<LoraApplicationReport>(2);
            foreach (ComponentLoras component in (ReadOnlySpan<ComponentLoras>)[UNet, TextEncoder, TextEncoder2, Transformer])
            {
                if (component.Report is not null)
                    reports.Add(component.Report);
            }
            return reports;
        }
    }

    /// <summary>
    /// Loads the embeddings for each conditioning text encoder (<c>TensorName</c>: the file's tensor for that
    /// encoder, SDXL's <c>clip_l</c> / <c>clip_g</c>; null for SD's single one), builds its enlarged token embedding and
    /// adds the tokens to its tokenizer. Every encoder gets the same tokens, with as many vectors each.
    /// </summary>
    /// <exception cref="WeightFileException">A file lacks an encoder's tensor, or its encoders' vector counts differ.</exception>
    public void AddTextualInversions(IReadOnlyList<string> paths, IReadOnlyList<(ModelSource Encoder, ClipTokenizer Tokenizer, string? TensorName)> encoders)
    {
        if (paths.Count == 0)
            return;
        for (int k = 0; k < encoders.Count; k++)
        {
            (ModelSource encoder, ClipTokenizer tokenizer, string? tensorName) = encoders[k];
            var embeddings = new List<TextualInversionEmbedding>(paths.Count);
            foreach (string path in paths)
            {
                TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(path, null, tensorName);
                if (k > 0 && embedding.VectorCount != _embeddings[embeddings.Count].VectorCount)
                    throw new WeightFileException(path, tensorName, $"has {embedding.VectorCount} vectors and {encoders[0].TensorName} {_embeddings[embeddings.Count].VectorCount}; an embedding spans as many tokens in each text encoder.");
                embeddings.Add(embedding);
            }
            AddTextualInversions(embeddings, k, encoder, tokenizer);
            if (k == 0)
                _embeddings = embeddings;
        }
    }

    private void AddTextualInversions(List<TextualInversionEmbedding> embeddings, int encoderIndex, ModelSource textEncoder, ClipTokenizer tokenizer)
    {
        _textualInversions[encoderIndex] = TextualInversionEmbedding.CreateOverrides(textEncoder, embeddings, out IReadOnlyList<TextualInversionToken> tokens);
        foreach (TextualInversionToken token in tokens)
        {
            int id = tokenizer.AddToken(token.Token);
            if (id != token.Id)
                throw new ModelContractException(textEncoder.Description, "input_ids",
                    $"the tokenizer gave textual-inversion token '{token.Token}' id {id}, but the text encoder's embedding row is {token.Id}: tokenizer and text encoder vocabularies differ in size.");
            if (_logger is not null)
                PipelineLog.TokenAdded(_logger, token.Token, id);
        }
    }

    /// <summary>diffusers' <c>maybe_convert_prompt</c>: a multi-vector token becomes <c>token token_1 … token_{n−1}</c>.</summary>
    public string ExpandTokens(string prompt)
    {
        foreach (TextualInversionEmbedding embedding in _embeddings)
        {
            if (embedding.VectorCount > 1 && prompt.Contains(embedding.Token, StringComparison.Ordinal))
                prompt = prompt.Replace(embedding.Token, string.Join(' ', embedding.Tokens), StringComparison.Ordinal);
        }
        return prompt;
    }

    /// <summary>Session settings carrying the overrides <paramref name="component"/> needs (its LoRAs, plus the textual inversions for the text encoder).</summary>
    public SessionSettings SettingsFor(ComponentLoras component, SessionSettings settings, bool pending = false)
    {
        var overrides = new List<WeightOverrides>(2);
        WeightOverrides? lora = pending ? component.PendingOverrides : component.Overrides;
        if (lora is not null)
            overrides.Add(lora);
        WeightOverrides? textualInversion = component.Target switch
        {
            LoraTarget.TextEncoder => _textualInversions[0],
            LoraTarget.TextEncoder2 => _textualInversions[1],
            _ => null,
        };
        if (textualInversion is not null)
            overrides.Add(textualInversion);
        return overrides.Count == 0 ? settings : settings with { WeightOverrides = overrides };
    }

    /// <summary>The entries of <paramref name="files"/> that have modules for <paramref name="target"/>, as (full path, multiplier).</summary>
    public List<LoraFile> Select(IReadOnlyList<LoraFile> files, LoraTarget target)
    {
        var selected = new List<LoraFile>();
        foreach (LoraFile file in files)
        {
            LoraAdapter adapter = Adapter(file.Path);
            if (adapter.CountModules(target) > 0)
                selected.Add(new LoraFile(adapter.FilePath, file.Multiplier));
        }
        return selected;
    }

    /// <summary>Merges <paramref name="files"/> into <paramref name="model"/>; null (and no report) for an empty set.</summary>
    public (WeightOverrides? Overrides, LoraApplicationReport? Report) Merge(ModelSource model, LoraTarget target, List<LoraFile> files)
    {
        if (files.Count == 0)
            return (null, null);
        var weights = new List<LoraWeight>(files.Count);
        foreach (LoraFile file in files)
            weights.Add(new LoraWeight(Adapter(file.Path), file.Multiplier));
        WeightOverrides overrides = LoraMerger.CreateOverrides(model, target, weights, out LoraApplicationReport report);
        if (_logger is not null)
            PipelineLog.LoraApplied(_logger, report);
        return (overrides, report);
    }

    public void Dispose()
    {
        UNet.Dispose();
        TextEncoder.Dispose();
        TextEncoder2.Dispose();
        Transformer.Dispose();
        foreach (WeightOverrides? overrides in _textualInversions)
            overrides?.Dispose();
    }

    private LoraAdapter Adapter(string path)
    {
        string full = Path.GetFullPath(path);
        if (!_adapters.TryGetValue(full, out LoraAdapter? adapter))
        {
            adapter = LoraAdapter.Load(full);
            _adapters.Add(full, adapter);
        }
        return adapter;
    }

    /// <summary>One component's LoRA state.</summary>
    internal sealed class ComponentLoras(LoraTarget target) : IDisposable
    {
        private List<LoraFile> _pendingFiles = [];
        private LoraApplicationReport? _pendingReport;

        public LoraTarget Target { get; } = target;

        public List<LoraFile> Files { get; private set; } = [];

        public WeightOverrides? Overrides { get; private set; }

        public WeightOverrides? PendingOverrides { get; private set; }

        public LoraApplicationReport? Report { get; private set; }

        /// <summary>Holds a merged set until the session using it exists (a failed load leaves the current one in place).</summary>
        public void SetPending(List<LoraFile> files, WeightOverrides? overrides, LoraApplicationReport? report)
        {
            PendingOverrides?.Dispose();
            _pendingFiles = files;
            PendingOverrides = overrides;
            _pendingReport = report;
        }

        /// <summary>Makes the pending set current; call after the old session using <see cref="Overrides"/> was disposed.</summary>
        public void CommitPending()
        {
            Overrides?.Dispose();
            Files = _pendingFiles;
            Overrides = PendingOverrides;
            Report = _pendingReport;
            PendingOverrides = null;
            _pendingReport = null;
        }

        public void Dispose()
        {
            PendingOverrides?.Dispose();
            Overrides?.Dispose();
        }

        public bool Matches(List<LoraFile> files)
        {
            if (files.Count != Files.Count)
                return false;
            for (int i = 0; i < files.Count; i++)
            {
                if (files[i] != Files[i])
                    return false;
            }
            return true;
        }
    }
}
