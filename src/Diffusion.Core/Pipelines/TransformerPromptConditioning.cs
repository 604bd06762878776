using System.Diagnostics;
using Diffusion.Core.Families;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// A flow-matching call's text conditioning for the whole model batch (unconditional rows first with classifier-free
/// guidance): the transformer's <c>encoder_hidden_states</c> and <c>pooled_projections</c>, as diffusers'
/// <c>encode_prompt</c> builds them. FLUX.1: T5's tokens and CLIP-L's <c>pooler_output</c>. SD3: CLIP-L's and CLIP-G's
/// penultimate hidden states side by side, zero-padded to T5's width, then T5's tokens; pooled = both projections
/// (<see cref="Sd3PromptEmbeddings"/>). Prompts are plain text (no weighting syntax).
/// </summary>
internal sealed class TransformerPromptConditioning
{
    private TransformerPromptConditioning(float[] text, int textTokens, int textWidth, float[] pooled, int pooledWidth)
    {
        Text = text;
        TextTokens = textTokens;
        TextWidth = textWidth;
        Pooled = pooled;
        PooledWidth = pooledWidth;
    }

    /// <summary>[model batch, <see cref="TextTokens"/>, <see cref="TextWidth"/>].</summary>
    public float[] Text { get; }

    public int TextTokens { get; }

    public int TextWidth { get; }

    /// <summary>[model batch, <see cref="PooledWidth"/>].</summary>
    public float[] Pooled { get; }

    public int PooledWidth { get; }

    /// <summary>Whether the prompt lost tokens to CLIP's 77 or to <c>max_sequence_length</c>.</summary>
    public bool Truncated { get; private init; }

    /// <summary>Whether the negative prompt did.</summary>
    public bool NegativeTruncated { get; private init; }

    public long EncoderTicks { get; private init; }

    /// <summary>Encodes the prompt (and, with guidance, the negative prompt) and repeats each over the batch.</summary>
    /// <param name="models">The pipeline's models.</param>
    /// <param name="family">SD3 or FLUX.1.</param>
    /// <param name="prompt">The prompt.</param>
    /// <param name="negativePrompt">The negative prompt (used with guidance only).</param>
    /// <param name="batch">Images per prompt.</param>
    /// <param name="guided">Whether classifier-free guidance runs (SD3 with a scale above 1).</param>
    /// <param name="maxSequenceLength">T5's token count.</param>
    /// <param name="clipSkip">SD3: 1 for the penultimate layer (diffusers' default), k for k layers before the last.</param>
    /// <param name="runOptions">Run options whose terminate flag cancels an encoder.</param>
    public static TransformerPromptConditioning Encode(FlowMatchingModels models, ModelFamily family, string prompt, string negativePrompt,
        int batch, bool guided, int maxSequenceLength, int clipSkip, RunOptions runOptions)
    {
        long start = Stopwatch.GetTimestamp();
        bool flux = family == ModelFamily.Flux;
        Encoded positive = flux ? EncodeFlux(models, prompt, maxSequenceLength, runOptions) : EncodeSd3(models, prompt, maxSequenceLength, clipSkip, runOptions);
        Encoded? negative = !guided ? null
            : flux ? EncodeFlux(models, negativePrompt, maxSequenceLength, runOptions)
            : EncodeSd3(models, negativePrompt, maxSequenceLength, 1, runOptions); // diffusers encodes the negative without clip_skip
        models.ReleaseEncodersIfSequential();

        int rows = guided ? 2 * batch : batch;
        int textLength = positive.Text.Length, pooledLength = positive.Pooled.Length;
        float[] text = new float[rows * textLength];
        float[] pooled = new float[rows * pooledLength];
        for (int row = 0; row < rows; row++)
        {
            Encoded source = guided && row < batch ? negative! : positive;
            source.Text.CopyTo(text, row * textLength);
            source.Pooled.CopyTo(pooled, row * pooledLength);
        }
        return new TransformerPromptConditioning(text, positive.Tokens, textLength / positive.Tokens, pooled, pooledLength)
        {
            Truncated = positive.Truncated,
            NegativeTruncated = negative?.Truncated ?? false,
            EncoderTicks = Stopwatch.GetTimestamp() - start,
        };
    }

    /// <summary>One prompt's tokens [tokens, width] and pooled vector.</summary>
    private sealed record Encoded(float[] Text, int Tokens, float[] Pooled, bool Truncated);

    /// <summary>FluxPipeline.encode_prompt: CLIP's pooler_output (77 tokens) and T5's last hidden state.</summary>
    private static Encoded EncodeFlux(FlowMatchingModels models, string prompt, int maxSequenceLength, RunOptions runOptions)
    {
        (ClipTokenizer tokenizer, TextEncoder clip) = models.ClipEncoders[0];
        TokenizedText clipIds = tokenizer.Encode(prompt);
        float[] pooled = new float[clip.GetPooledWidth()];
        clip.EncodePooled(clipIds.Ids, 1, clipIds.Ids.Length, pooled, runOptions);
        (float[] t5, bool t5Truncated) = EncodeT5(models, prompt, maxSequenceLength, runOptions);
        return new Encoded(t5, maxSequenceLength, pooled, clipIds.Truncated || t5Truncated);
    }

    /// <summary>StableDiffusion3Pipeline.encode_prompt: both CLIPs' hidden_states[-(clip_skip + 2)] and projections, then T5.</summary>
    private static Encoded EncodeSd3(FlowMatchingModels models, string prompt, int maxSequenceLength, int clipSkip, RunOptions runOptions)
    {
        (ClipTokenizer tokenizerL, TextEncoder clipL) = models.ClipEncoders[0];
        (ClipTokenizer tokenizerG, TextEncoder clipG) = models.ClipEncoders[1];
        TokenizedText idsL = tokenizerL.Encode(prompt);
        TokenizedText idsG = tokenizerG.Encode(prompt);
        int clipTokens = idsL.Ids.Length;
        if (idsG.Ids.Length != clipTokens)
            throw new ModelContractException(clipG.ModelPath, "input_ids", $"tokenizer_2 pads to {idsG.Ids.Length} tokens and tokenizer to {clipTokens}; SD3 joins the two per token.");
        int widthL = clipL.GetHiddenSize(), widthG = clipG.GetHiddenSize();
        int pooledL = clipL.GetPooledWidth(), pooledG = clipG.GetPooledWidth();
        float[] hiddenL = new float[clipTokens * widthL], hiddenG = new float[clipTokens * widthG];
        float[] projectionL = new float[pooledL], projectionG = new float[pooledG];
        // Our ClipSkip counts from the last layer (1 = none); diffusers' default for SD3 is the penultimate layer.
        clipL.EncodeLayer(idsL.Ids, 1, clipTokens, clipSkip + 1, hiddenL, projectionL, runOptions);
        clipG.EncodeLayer(idsG.Ids, 1, clipTokens, clipSkip + 1, hiddenG, projectionG, runOptions);

        bool truncated = idsL.Truncated || idsG.Truncated;
        float[] t5 = [];
        int t5Tokens = clipTokens; // without T5, diffusers pads with tokenizer_max_length (77) zero rows
        int t5Width = models.Transformer.JointAttentionWidth
            ?? throw new ModelContractException(models.Transformer.ModelPath, models.Transformer.EncoderHiddenStatesInput.Name, "SD3 needs the transformer's joint_attention_dim fixed in its text input.");
        if (models.T5 is not null)
        {
            (t5, bool t5Truncated) = EncodeT5(models, prompt, maxSequenceLength, runOptions);
            truncated |= t5Truncated;
            t5Tokens = maxSequenceLength;
        }
        float[] joined = new float[(clipTokens + t5Tokens) * t5Width];
        Sd3PromptEmbeddings.Join(hiddenL, hiddenG, t5, 1, clipTokens, widthL, widthG, t5Tokens, t5Width, joined);
        float[] pooled = new float[pooledL + pooledG];
        Sd3PromptEmbeddings.JoinPooled(projectionL, projectionG, 1, pooledL, pooledG, pooled);
        return new Encoded(joined, clipTokens + t5Tokens, pooled, truncated);
    }

    private static (float[] Hidden, bool Truncated) EncodeT5(FlowMatchingModels models, string prompt, int maxSequenceLength, RunOptions runOptions)
    {
        (T5Tokenizer tokenizer, TextEncoder encoder) = models.T5!.Value;
        TokenizedText ids = tokenizer.Tokenize(prompt, maxSequenceLength);
        float[] hidden = new float[maxSequenceLength * encoder.GetHiddenSize()];
        encoder.Encode(ids.Ids, 1, maxSequenceLength, hidden, runOptions);
        return (hidden, ids.Truncated);
    }
}
