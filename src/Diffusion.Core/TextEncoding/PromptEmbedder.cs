using System.Numerics.Tensors;
using Diffusion.Core.Tokenization;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.TextEncoding;

/// <summary>
/// Turns prompts into text embeddings, either as diffusers does (<see cref="PromptSyntax.Plain"/>: one 77-token
/// window) or as the AUTOMATIC1111 web UI does (<see cref="PromptSyntax.Weighted"/>: attention weights, <c>BREAK</c>,
/// prompts of any length in 75-token chunks).
/// </summary>
/// <remarks>
/// <para>Weighted, following the web UI's <c>FrozenCLIPEmbedderWithCustomWordsBase</c> with its default "Original"
/// emphasis: the prompt is parsed and chunked (<see cref="WeightedPromptTokenizer"/>), every chunk is encoded on
/// its own 77 ids (all chunks in one encoder run when the model's batch axis is dynamic), each token's hidden
/// state is multiplied by its weight, and each chunk is then rescaled so the mean over its 77 × hidden values is
/// what it was before weighting. The chunks' hidden states are laid end to end along the sequence axis. A prompt
/// with no syntax and at most 75 tokens gives exactly the <see cref="PromptSyntax.Plain"/> embeddings.</para>
/// <para>Uses the text encoder, which runs one call at a time: one embedder per thread.</para>
/// </remarks>
public sealed class PromptEmbedder
{
    private int _commaPaddingBacktrack = WeightedPromptTokenizer.DefaultCommaPaddingBacktrack;
    private int _clipSkip = 1;

    /// <summary>Creates an embedder over a model's tokenizer and text encoder (neither is owned or disposed).</summary>
    public PromptEmbedder(ClipTokenizer tokenizer, TextEncoder textEncoder)
        : this(tokenizer, textEncoder, EmbeddingLayer.LastNormalized, includePooled: false)
    {
    }

    /// <summary>
    /// Creates an embedder that takes the hidden states of <paramref name="layer"/> and, with
    /// <paramref name="includePooled"/>, the encoder's pooled output of each prompt's first chunk (as the web UI
    /// pools SDXL prompts) in <see cref="PromptEmbeddings.Pooled"/>.
    /// </summary>
    /// <exception cref="InvalidOptionException"><paramref name="includePooled"/> is set with another layer than <see cref="EmbeddingLayer.PenultimateRaw"/>.</exception>
    /// <exception cref="ModelContractException"><paramref name="layer"/> is <see cref="EmbeddingLayer.PenultimateRaw"/> and the
    /// encoder has no per-layer outputs, or <paramref name="includePooled"/> is set and it has no pooled output.</exception>
    public PromptEmbedder(ClipTokenizer tokenizer, TextEncoder textEncoder, EmbeddingLayer layer, bool includePooled)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(textEncoder);
        if (!Enum.IsDefined(layer))
            throw new InvalidOptionException(nameof(layer), $"{(int)layer} is not an EmbeddingLayer.");
        if (includePooled && layer != EmbeddingLayer.PenultimateRaw)
            throw new InvalidOptionException(nameof(includePooled), "the pooled output is read together with EmbeddingLayer.PenultimateRaw (the SDXL conditioning) only.");
        Tokenizer = tokenizer;
        TextEncoder = textEncoder;
        Layer = layer;
        IncludePooled = includePooled;
        if (layer == EmbeddingLayer.PenultimateRaw)
            textEncoder.RequireLayerOutput(2);
        if (includePooled && textEncoder.PooledOutput is null)
            throw new ModelContractException(textEncoder.ModelPath, "text_embeds", "the model has no pooled output ('text_embeds' or 'pooler_output'), which this model family conditions on.");
    }

    /// <summary>Which hidden states the embeddings are.</summary>
    public EmbeddingLayer Layer { get; }

    /// <summary>Whether <see cref="PromptEmbeddings.Pooled"/> is filled.</summary>
    public bool IncludePooled { get; }

    /// <summary>The tokenizer.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>The text encoder.</summary>
    public TextEncoder TextEncoder { get; }

    /// <summary>
    /// Which layer's hidden states to use, counted from the end, as the AUTOMATIC1111 web UI's clip skip
    /// (<c>CLIP_stop_at_last_layers</c>): 1 (the default, as diffusers) is <c>last_hidden_state</c>; N &gt; 1 takes the
    /// hidden state N layers from the end (<c>hidden_states[-N]</c>) and applies the encoder's final layer norm to it.
    /// Values above 1 need a text encoder exported with per-layer outputs (<c>hidden_states.0</c> … <c>hidden_states.N</c>,
    /// e.g. Optimum with <c>output_hidden_states</c>) whose final layer norm is one LayerNormalization node (opset 17+);
    /// see <see cref="TextEncoding.TextEncoder.RequireClipSkip"/>. The setter checks this against the model.
    /// </summary>
    /// <exception cref="InvalidOptionException">Set below 1, above the model's number of hidden states, or above 1 on a
    /// text encoder without per-layer outputs or with a decomposed final layer norm; the message says which.</exception>
    public int ClipSkip
    {
        get => _clipSkip;
        set
        {
            if (Layer == EmbeddingLayer.LastNormalized)
            {
                TextEncoder.RequireClipSkip(value);
            }
            else
            {
                if (value < 1)
                    throw new InvalidOptionException(nameof(ClipSkip), $"must be 1 (the penultimate layer for this family) or more, was {value}.");
                if (value + 1 > TextEncoder.HiddenStateOutputs.Count - 1)
                    throw new InvalidOptionException(nameof(ClipSkip), $"{TextEncoder.ModelPath} has {TextEncoder.HiddenStateOutputs.Count - 1} layers, so clip skip can be 1 to {TextEncoder.HiddenStateOutputs.Count - 2} here; was {value}.");
            }
            _clipSkip = value;
        }
    }

    /// <summary>The web UI's <c>comma_padding_backtrack</c> for <see cref="PromptSyntax.Weighted"/> (default 20; 0 turns it off).</summary>
    /// <exception cref="InvalidOptionException">Set to a negative value.</exception>
    public int CommaPaddingBacktrack
    {
        get => _commaPaddingBacktrack;
        set
        {
            if (value < 0)
                throw new InvalidOptionException(nameof(CommaPaddingBacktrack), $"must be 0 (off) or more, was {value}.");
            _commaPaddingBacktrack = value;
        }
    }

    /// <summary>Encodes one prompt.</summary>
    /// <param name="prompt">The prompt.</param>
    /// <param name="syntax">How to read it.</param>
    /// <param name="minimumChunks">77-token chunks to return at least; missing ones are the empty prompt's chunk
    /// (start token, end token, padding), encoded like the rest.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="InvalidOptionException"><paramref name="minimumChunks"/> is below 1, <paramref name="syntax"/> is
    /// not defined, or a weight in the prompt is not a number.</exception>
    /// <exception cref="ArgumentException">The text encoder fixes a sequence length other than the tokenizer's.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed.</exception>
    public PromptEmbeddings Encode(string prompt, PromptSyntax syntax, int minimumChunks = 1, RunOptions? runOptions = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (minimumChunks < 1)
            throw new InvalidOptionException(nameof(minimumChunks), $"must be at least 1, was {minimumChunks}.");
        return syntax switch
        {
            PromptSyntax.Plain => EncodePlain(prompt, minimumChunks, runOptions),
            PromptSyntax.Weighted => EncodeChunks(WeightedPromptTokenizer.Tokenize(Tokenizer, prompt, minimumChunks, _commaPaddingBacktrack), runOptions),
            _ => throw new InvalidOptionException(nameof(syntax), $"{(int)syntax} is not a PromptSyntax."),
        };
    }

    /// <summary>
    /// Encodes a prompt and its negative prompt to the same sequence length, for classifier-free guidance: with
    /// <see cref="PromptSyntax.Weighted"/> the one with fewer chunks gets empty-prompt chunks appended, as the web UI
    /// pads (its <c>pad_cond_uncond</c>); with <see cref="PromptSyntax.Plain"/> both are one 77-token window.
    /// </summary>
    /// <param name="prompt">The prompt.</param>
    /// <param name="negativePrompt">The negative prompt; empty for none.</param>
    /// <param name="syntax">How to read both.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <returns>The prompt's embeddings and the negative prompt's, of equal <see cref="PromptEmbeddings.SequenceLength"/>.</returns>
    /// <exception cref="InvalidOptionException"><paramref name="syntax"/> is not defined, or a weight is not a number.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed.</exception>
    public (PromptEmbeddings Conditional, PromptEmbeddings Unconditional) EncodePair(string prompt, string negativePrompt, PromptSyntax syntax, RunOptions? runOptions = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(negativePrompt);
        switch (syntax)
        {
            case PromptSyntax.Plain:
                return (EncodePlain(prompt, 1, runOptions), EncodePlain(negativePrompt, 1, runOptions));
            case PromptSyntax.Weighted:
                PromptTokenChunks conditional = WeightedPromptTokenizer.Tokenize(Tokenizer, prompt, 1, _commaPaddingBacktrack);
                PromptTokenChunks unconditional = WeightedPromptTokenizer.Tokenize(Tokenizer, negativePrompt, 1, _commaPaddingBacktrack);
                int chunkCount = Math.Max(conditional.ChunkCount, unconditional.ChunkCount);
                conditional = WeightedPromptTokenizer.PadTo(conditional, chunkCount, Tokenizer);
                unconditional = WeightedPromptTokenizer.PadTo(unconditional, chunkCount, Tokenizer);
                return (EncodeChunks(conditional, runOptions), EncodeChunks(unconditional, runOptions));
            default:
                throw new InvalidOptionException(nameof(syntax), $"{(int)syntax} is not a PromptSyntax.");
        }
    }

    private PromptEmbeddings EncodePlain(string prompt, int chunkCount, RunOptions? runOptions)
    {
        TokenizedText tokens = Tokenizer.Encode(prompt);
        int[] ids = tokens.Ids;
        if (chunkCount > 1)
        {
            int length = Tokenizer.MaxLength;
            ids = new int[chunkCount * length];
            tokens.Ids.CopyTo(ids, 0);
            int[] empty = Tokenizer.Encode(string.Empty).Ids;
            for (int chunk = 1; chunk < chunkCount; chunk++)
                empty.CopyTo(ids, chunk * length);
        }
        return EncodeIds(ids, weights: null, chunkCount, tokens.DroppedTokenCount, runOptions);
    }

    private PromptEmbeddings EncodeChunks(PromptTokenChunks chunks, RunOptions? runOptions)
        => EncodeIds(chunks.TokenIdArray, chunks.WeightArray, chunks.ChunkCount, droppedTokenCount: 0, runOptions);

    private PromptEmbeddings EncodeIds(int[] ids, float[]? weights, int chunkCount, int droppedTokenCount, RunOptions? runOptions)
    {
        int length = Tokenizer.MaxLength;
        int hiddenSize = TextEncoder.GetHiddenSize();
        int chunkValues = checked(length * hiddenSize);
        int pooledWidth = IncludePooled ? TextEncoder.GetPooledWidth() : 0;
        var values = new float[checked(chunkCount * chunkValues)];
        var pooled = new float[chunkCount * pooledWidth];
        int? fixedBatch = TextEncoder.InputIdsInput.GetFixedDimension(0) ?? TextEncoder.LastHiddenStateOutput.GetFixedDimension(0);
        if (fixedBatch is not int batch)
        {
            EncodeGroup(ids, chunkCount, length, values, pooled, runOptions);
        }
        else
        {
            // A model with a fixed batch runs chunks in groups of that size; a last, partial group is filled up with
            // copies of its last chunk, whose outputs are dropped.
            for (int start = 0; start < chunkCount; start += batch)
            {
                int count = Math.Min(batch, chunkCount - start);
                if (count == batch)
                {
                    EncodeGroup(ids.AsMemory(start * length, batch * length), batch, length, values.AsMemory(start * chunkValues, batch * chunkValues),
                        pooled.AsMemory(start * pooledWidth, batch * pooledWidth), runOptions);
                    continue;
                }
                var groupIds = new int[batch * length];
                var groupValues = new float[batch * chunkValues];
                var groupPooled = new float[batch * pooledWidth];
                ids.AsSpan(start * length, count * length).CopyTo(groupIds);
                for (int k = count; k < batch; k++)
                    ids.AsSpan((start + count - 1) * length, length).CopyTo(groupIds.AsSpan(k * length));
                EncodeGroup(groupIds, batch, length, groupValues, groupPooled, runOptions);
                groupValues.AsSpan(0, count * chunkValues).CopyTo(values.AsSpan(start * chunkValues));
                groupPooled.AsSpan(0, count * pooledWidth).CopyTo(pooled.AsSpan(start * pooledWidth));
            }
        }
        if (weights is not null)
        {
            for (int chunk = 0; chunk < chunkCount; chunk++)
                PromptEmphasis.ApplyWeights(values.AsSpan(chunk * chunkValues, chunkValues), weights.AsSpan(chunk * length, length), hiddenSize);
            // Extreme weights (1e30, or a mean that weighting drives to zero) overflow float32: name the prompt, not the
            // UNet that would otherwise report NaN several steps later.
            if (!float.IsFinite(TensorPrimitives.MaxMagnitude(values)))
                throw new InvalidOptionException("prompt", "its attention weights make the text embedding overflow (NaN or infinite values); use weights between about 0 and 10.");
        }
        // The web UI pools a long prompt's first chunk, unweighted (its process_tokens keeps z.pooled from before the emphasis).
        return new PromptEmbeddings(values, chunkCount * length, hiddenSize, chunkCount, droppedTokenCount)
        {
            Pooled = IncludePooled ? pooled.AsSpan(0, pooledWidth).ToArray() : null,
        };
    }

    private void EncodeGroup(Memory<int> ids, int count, int length, Memory<float> values, Memory<float> pooled, RunOptions? runOptions)
    {
        if (Layer == EmbeddingLayer.PenultimateRaw)
            TextEncoder.EncodeLayer(ids, count, length, _clipSkip + 1, values, pooled, runOptions);
        else
            TextEncoder.Encode(ids, count, length, _clipSkip, values, runOptions);
    }
}
