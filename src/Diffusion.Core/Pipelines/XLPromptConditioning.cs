using System.Diagnostics;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Stable Diffusion XL's conditioning (diffusers' <c>StableDiffusionXLPipeline.encode_prompt</c> and
/// <c>_get_add_time_ids</c>): each text encoder's penultimate hidden states, as the layer wrote them, concatenated along
/// the width (768 + 1280 for the base model; the refiner has only <c>text_encoder_2</c>); the pooled output of the last
/// encoder as <c>text_embeds</c>; the size (or, for the refiner, aesthetic-score) <c>time_ids</c>. With guidance and
/// no negative prompt, a model whose <c>force_zeros_for_empty_prompt</c> is set gets zeros as the negative conditioning.
/// </summary>
/// <remarks>
/// With <see cref="PromptSyntax.Weighted"/> every encoder weights and chunks its own hidden states as the AUTOMATIC1111
/// web UI does for SDXL (each embedder of its conditioner is hijacked on its own), and the pooled output is the first
/// chunk's, unweighted.
/// </remarks>
internal static class XLPromptConditioning
{
    /// <summary>The UNet input of the pooled embeddings.</summary>
    public const string TextEmbedsInput = "text_embeds";

    /// <summary>The UNet input of the micro-conditioning ids.</summary>
    public const string TimeIdsInput = "time_ids";

    public static PromptConditioning Encode(PipelineModels models, XLConditioningSettings settings, GenerationOptions options,
        string prompt, string negativePrompt, int batch, bool guided, int width, int height, RunOptions runOptions, ILogger? logger)
    {
        long e0 = Stopwatch.GetTimestamp();
        IReadOnlyList<(ClipTokenizer Tokenizer, TextEncoder Encoder)> encoders = models.TextEncoders;
        bool zeroNegative = guided && settings.ForceZerosForEmptyPrompt && negativePrompt.Length == 0;
        var conditional = new PromptEmbeddings[encoders.Count];
        var unconditional = new PromptEmbeddings[encoders.Count];
        for (int k = 0; k < encoders.Count; k++)
        {
            var embedder = new PromptEmbedder(encoders[k].Tokenizer, encoders[k].Encoder, EmbeddingLayer.PenultimateRaw, includePooled: k == encoders.Count - 1)
            {
                ClipSkip = options.ClipSkip,
            };
            if (guided && !zeroNegative)
            {
                (conditional[k], unconditional[k]) = embedder.EncodePair(prompt, negativePrompt, options.PromptSyntax, runOptions);
            }
            else
            {
                conditional[k] = embedder.Encode(prompt, options.PromptSyntax, 1, runOptions);
                unconditional[k] = conditional[k];
            }
            models.ReleaseIfSequential(encoders[k].Encoder);
        }
        long encoderTicks = Stopwatch.GetTimestamp() - e0;

        PromptEmbeddings cond = Concatenate(conditional, encoders);
        PromptEmbeddings uncond = zeroNegative ? Zeros(cond) : Concatenate(unconditional, encoders);
        PromptConditioning.LogTruncation(logger, cond, uncond, guided && !zeroNegative, encoders[0].Tokenizer.MaxLength);

        (float[] timeIds, float[] negativeTimeIds) = XLTimeIds.Create(options, width, height, settings.RequiresAestheticsScore);
        var added = new Dictionary<string, float[]>(StringComparer.Ordinal)
        {
            [TextEmbedsInput] = PromptConditioning.Interleave(cond.Pooled!, uncond.Pooled!, batch, guided),
            [TimeIdsInput] = PromptConditioning.Interleave(timeIds, negativeTimeIds, batch, guided),
        };
        PromptConditioning.AddGuidanceEmbedding(added, models.UNet, options.GuidanceScale!.Value, batch);
        float[] embeddings = PromptConditioning.Interleave(cond.Values, uncond.Values, batch, guided);
        return new PromptConditioning(embeddings, cond, uncond, encoderTicks, added);
    }

    /// <summary>Lays the encoders' hidden states side by side per token; the pooled output is the last encoder's.</summary>
    private static PromptEmbeddings Concatenate(PromptEmbeddings[] parts, IReadOnlyList<(ClipTokenizer Tokenizer, TextEncoder Encoder)> encoders)
    {
        if (parts.Length == 1)
            return parts[0];
        int sequence = parts[0].SequenceLength;
        int width = 0;
        for (int k = 0; k < parts.Length; k++)
        {
            if (parts[k].SequenceLength != sequence)
            {
                // Only tokenizers with different vocabularies chunk one prompt differently; SDXL's two share CLIP's.
                throw new ModelContractException(encoders[k].Encoder.ModelPath, "input_ids",
                    $"the prompt gives {parts[k].SequenceLength} tokens with this encoder's tokenizer and {sequence} with the first one's; the two tokenizers must share a vocabulary.");
            }
            width += parts[k].HiddenSize;
        }
        var values = new float[sequence * width];
        for (int token = 0; token < sequence; token++)
        {
            int offset = token * width;
            foreach (PromptEmbeddings part in parts)
            {
                part.Values.AsSpan(token * part.HiddenSize, part.HiddenSize).CopyTo(values.AsSpan(offset));
                offset += part.HiddenSize;
            }
        }
        int dropped = parts.Max(p => p.DroppedTokenCount);
        return new PromptEmbeddings(values, sequence, width, parts[0].ChunkCount, dropped) { Pooled = parts[^1].Pooled };
    }

    private static PromptEmbeddings Zeros(PromptEmbeddings like)
        => new(new float[like.Values.Length], like.SequenceLength, like.HiddenSize, like.ChunkCount, 0) { Pooled = new float[like.Pooled!.Length] };
}
