using Diffusion.Core.Families;
using Diffusion.Core.Models;
using Diffusion.Core.TextEncoding;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Components that do not fit each other or their family are refused when a pipeline is composed, naming both files,
/// not mid-generation by ONNX Runtime: text widths, the family's added UNet inputs, the pooled width, the time-id count.
/// </summary>
internal static class ComponentFit
{
    public static void Require(ModelFamily family, PipelineModels models, XLConditioningSettings? xl)
    {
        UNet unet = models.UNet;
        bool takesXLInputs = unet.FindConditioningInput(XLPromptConditioning.TextEmbedsInput) is not null;
        if (xl is null)
        {
            if (takesXLInputs)
            {
                throw new ModelContractException(unet.ModelPath, XLPromptConditioning.TextEmbedsInput,
                    $"the UNet takes Stable Diffusion XL's added conditioning (text_embeds, time_ids), and the pipeline runs the {family.Name} family: load an SDXL folder "
                    + "(model_index.json _class_name StableDiffusionXLPipeline) or set PipelineSettings.Family.");
            }
        }
        else if (!takesXLInputs)
        {
            throw new ModelContractException(unet.ModelPath, XLPromptConditioning.TextEmbedsInput,
                $"a {family.Name} UNet takes text_embeds and time_ids; this one declares {Describe(unet)}.");
        }

        int textWidth = 0;
        foreach ((_, TextEncoder encoder) in models.TextEncoders)
        {
            if (encoder.HiddenSize is not int width)
                return; // a dynamic width is checked by the first run
            textWidth += width;
        }
        if (unet.TextEmbeddingWidth is int unetWidth && textWidth != unetWidth)
        {
            string encoders = models.TextEncoders.Count == 1
                ? $"the text encoder ({models.TextEncoder.ModelPath}) gives {textWidth}"
                : "the text encoders give " + string.Join(" + ", models.TextEncoders.Select(e => $"{e.Encoder.HiddenSize} ({e.Encoder.ModelPath})"));
            throw new ModelContractException(unet.ModelPath, unet.EncoderHiddenStatesInput.Name,
                $"the UNet takes text embeddings {unetWidth} wide, but {encoders}: they come from different models.");
        }
        if (xl is not null)
            RequireXLInputs(unet, models.TextEncoders[^1].Encoder, xl);
    }

    private static void RequireXLInputs(UNet unet, TextEncoder pooledEncoder, XLConditioningSettings xl)
    {
        TensorSpec textEmbeds = unet.FindConditioningInput(XLPromptConditioning.TextEmbedsInput)!;
        if (pooledEncoder.PooledOutput is null)
        {
            throw new ModelContractException(pooledEncoder.ModelPath, "text_embeds",
                "SDXL conditions on this encoder's pooled output ('text_embeds' of CLIPTextModelWithProjection, or 'pooler_output'), and the model has none.");
        }
        pooledEncoder.RequireLayerOutput(2);
        if (textEmbeds.GetFixedDimension(1) is int unetPooled && pooledEncoder.PooledWidth is int pooled && unetPooled != pooled)
        {
            throw new ModelContractException(unet.ModelPath, textEmbeds.Name,
                $"the UNet takes pooled text embeddings {unetPooled} wide, and {pooledEncoder.ModelPath} gives {pooled}: they come from different models.");
        }
        TensorSpec timeIds = unet.FindConditioningInput(XLPromptConditioning.TimeIdsInput)!;
        int expected = xl.RequiresAestheticsScore ? 5 : 6;
        if (timeIds.GetFixedDimension(1) is int count && count != expected)
        {
            string why = xl.RequiresAestheticsScore
                ? "model_index.json sets requires_aesthetics_score (a refiner: size, crop and aesthetic score)"
                : "the folder is a base model (original size, crop, target size)";
            throw new ModelContractException(unet.ModelPath, timeIds.Name,
                $"the UNet takes {count} time ids, and {why} gives {expected}: set requires_aesthetics_score to {(count == 5 ? "true" : "false")} in model_index.json if the UNet is right.");
        }
    }

    private static string Describe(UNet unet)
        => unet.ConditioningInputs.Count == 0 ? "no added inputs" : string.Join(", ", unet.ConditioningInputs.Select(i => i.Name));
}
