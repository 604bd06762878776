using System.Diagnostics;
using Diffusion.Core.Models;
using Diffusion.Core.TextEncoding;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// A call's conditioning as the denoiser takes it: the text embeddings laid out <c>[uncond × n | cond × n]</c> with
/// guidance, else <c>[cond × n]</c>, and the added inputs a family's denoiser declares (SDXL's <c>text_embeds</c> and
/// <c>time_ids</c>, LCM's <c>timestep_cond</c>), by name, one row per latent in the same order.
/// </summary>
internal sealed class PromptConditioning
{
    internal PromptConditioning(float[] embeddings, PromptEmbeddings conditional, PromptEmbeddings unconditional, long encoderTicks,
        IReadOnlyDictionary<string, float[]> added)
    {
        Embeddings = embeddings;
        Conditional = conditional;
        Unconditional = unconditional;
        EncoderTicks = encoderTicks;
        Added = added;
    }

    /// <summary>The embeddings of every latent the denoiser sees, in batch order.</summary>
    public float[] Embeddings { get; }

    /// <summary>The prompt's own encoding.</summary>
    public PromptEmbeddings Conditional { get; }

    /// <summary>The negative prompt's encoding (the prompt's when guidance is off).</summary>
    public PromptEmbeddings Unconditional { get; }

    /// <summary>Tokens per embedding.</summary>
    public int SequenceLength => Conditional.SequenceLength;

    /// <summary>Stopwatch ticks spent in the text encoders.</summary>
    public long EncoderTicks { get; }

    /// <summary>The denoiser's added inputs by name, each <c>[model batch, width]</c>; empty for SD 1.x/2.x.</summary>
    public IReadOnlyDictionary<string, float[]> Added { get; }

    /// <summary>
    /// Stable Diffusion 1.x/2.x: encodes <paramref name="prompt"/> (and, with guidance, <paramref name="negativePrompt"/>)
    /// with the one text encoder (PromptEmbedder: Plain = diffusers' 77-token window, Weighted = A1111 chunks and weights).
    /// </summary>
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
        LogTruncation(logger, conditional, unconditional, guided, models.Tokenizer.MaxLength);

        float[] embeddings = Interleave(conditional.Values, unconditional.Values, batch, guided);
        var added = new Dictionary<string, float[]>(StringComparer.Ordinal);
        AddGuidanceEmbedding(added, models.UNet, options.GuidanceScale!.Value, batch);
        return new PromptConditioning(embeddings, conditional, unconditional, encoderTicks, added);
    }

    /// <summary>
    /// The model-batch layout of one per-prompt row: <c>[unconditional × batch | conditional × batch]</c> with guidance,
    /// else <c>[conditional × batch]</c>.
    /// </summary>
    internal static float[] Interleave(ReadOnlySpan<float> conditional, ReadOnlySpan<float> unconditional, int batch, bool guided)
    {
        int perPrompt = conditional.Length;
        float[] result = new float[(guided ? 2 * batch : batch) * perPrompt];
        int conditionalStart = guided ? batch * perPrompt : 0;
        for (int i = 0; i < batch; i++)
        {
            conditional.CopyTo(result.AsSpan(conditionalStart + i * perPrompt));
            if (guided)
                unconditional.CopyTo(result.AsSpan(i * perPrompt));
        }
        return result;
    }

    /// <summary>An LCM UNet's <c>timestep_cond</c>: the guidance-scale embedding, one row per latent (no guidance batch).</summary>
    internal static void AddGuidanceEmbedding(Dictionary<string, float[]> added, UNet unet, float guidanceScale, int batch)
    {
        if (unet.FindConditioningInput(GuidanceScaleEmbedding.InputName) is not { } input)
            return;
        int dimension = input.GetFixedDimension(1)
            ?? throw new ModelContractException(unet.ModelPath, input.Name, "the guidance-embedding width (time_cond_proj_dim) must be fixed in the model; it is dynamic.");
        added[input.Name] = GuidanceScaleEmbedding.Compute(guidanceScale, dimension, batch);
    }

    internal static void LogTruncation(ILogger? logger, PromptEmbeddings conditional, PromptEmbeddings unconditional, bool guided, int maxLength)
    {
        if (logger is not null && conditional.Truncated)
            PipelineLog.PromptTruncated(logger, "Prompt", conditional.DroppedTokenCount, maxLength);
        if (logger is not null && guided && unconditional.Truncated)
            PipelineLog.PromptTruncated(logger, "Negative prompt", unconditional.DroppedTokenCount, maxLength);
    }
}
