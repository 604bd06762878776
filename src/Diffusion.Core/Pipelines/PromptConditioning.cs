using System.Diagnostics;
using Diffusion.Core.TextEncoding;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// A call's text conditioning: the prompt and negative prompt encoded (PromptEmbedder: Plain = diffusers' one 77-token
/// window, Weighted = A1111 chunks and weights, both padded to one length) and laid out as the denoiser takes them,
/// <c>[uncond × n | cond × n]</c> with guidance, else <c>[cond × n]</c>.
/// </summary>
internal sealed class PromptConditioning
{
    private PromptConditioning(float[] embeddings, PromptEmbeddings conditional, PromptEmbeddings unconditional, long encoderTicks)
    {
        Embeddings = embeddings;
        Conditional = conditional;
        Unconditional = unconditional;
        EncoderTicks = encoderTicks;
    }

    /// <summary>The embeddings of every latent the denoiser sees, in batch order.</summary>
    public float[] Embeddings { get; }

    /// <summary>The prompt's own encoding.</summary>
    public PromptEmbeddings Conditional { get; }

    /// <summary>The negative prompt's encoding (the prompt's when guidance is off).</summary>
    public PromptEmbeddings Unconditional { get; }

    /// <summary>Tokens per embedding.</summary>
    public int SequenceLength => Conditional.SequenceLength;

    /// <summary>Stopwatch ticks spent in the text encoder.</summary>
    public long EncoderTicks { get; }

    /// <summary>Encodes <paramref name="prompt"/> (and, with guidance, <paramref name="negativePrompt"/>) for <paramref name="batch"/> images.</summary>
    public static PromptConditioning Encode(PipelineModels models, GenerationOptions options, string prompt, string negativePrompt,
        int batch, bool guided, RunOptions runOptions, ILogger? logger)
    {
        long e0 = Stopwatch.GetTimestamp();
        var embedder = new PromptEmbedder(models.Tokenizer, models.TextEncoder) { ClipSkip = options.ClipSkip };
        PromptEmbeddings conditional, unconditional;
        if (guided)
        {
            (conditional, unconditional) = embedder.EncodePair(prompt, negativePrompt, options.PromptSyntax, runOptions);
        }
        else
        {
            conditional = embedder.Encode(prompt, options.PromptSyntax, 1, runOptions);
            unconditional = conditional;
        }
        long encoderTicks = Stopwatch.GetTimestamp() - e0;
        models.ReleaseIfSequential(models.TextEncoder);
        if (logger is not null && conditional.Truncated)
            PipelineLog.PromptTruncated(logger, "Prompt", conditional.DroppedTokenCount, models.Tokenizer.MaxLength);
        if (logger is not null && guided && unconditional.Truncated)
            PipelineLog.PromptTruncated(logger, "Negative prompt", unconditional.DroppedTokenCount, models.Tokenizer.MaxLength);

        int perPrompt = conditional.SequenceLength * conditional.HiddenSize;
        float[] embeddings = new float[(guided ? 2 * batch : batch) * perPrompt];
        int conditionalStart = guided ? batch * perPrompt : 0;
        for (int i = 0; i < batch; i++)
        {
            conditional.Values.AsSpan(0, perPrompt).CopyTo(embeddings.AsSpan(conditionalStart + i * perPrompt));
            if (guided)
                unconditional.Values.AsSpan(0, perPrompt).CopyTo(embeddings.AsSpan(i * perPrompt));
        }
        return new PromptConditioning(embeddings, conditional, unconditional, encoderTicks);
    }
}
