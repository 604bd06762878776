using Diffusion.Core.Families;
using Diffusion.Core.Models;
using Diffusion.Core.TextEncoding;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Checks, before any generation, that an SD3 or FLUX.1 pipeline's parts fit each other: the transformer is the family's
/// (packed latents and position ids for FLUX.1, neither for SD3), its text and pooled widths are what the encoders give,
/// and it works in the VAE's latent channels. A mismatch is a <see cref="ModelContractException"/> naming the tensor.
/// </summary>
internal static class FlowMatchingFit
{
    public static void Require(ModelFamily family, FlowMatchingModels models)
    {
        DiffusionTransformer transformer = models.Transformer;
        bool flux = family == ModelFamily.Flux;
        if (transformer.TakesPackedLatents != flux || transformer.TakesPositionIds != flux)
        {
            throw new ModelContractException(transformer.ModelPath, transformer.HiddenStatesInput.Name,
                $"is declared {transformer.HiddenStatesInput}{(transformer.TakesPositionIds ? " with img_ids/txt_ids" : string.Empty)}: not a {family.Name} transformer "
                + (flux ? "(FLUX.1 takes packed [batch,tokens,channels] latents and position ids)." : "(SD3 takes [batch,channels,height,width] latents and no position ids)."));
        }

        int pooled = 0;
        foreach ((_, TextEncoder encoder) in models.ClipEncoders)
            pooled += encoder.GetPooledWidth();
        if (transformer.PooledProjectionWidth is int expectedPooled && expectedPooled != pooled)
            throw new ModelContractException(transformer.ModelPath, transformer.PooledProjectionsInput.Name,
                $"takes {expectedPooled} values; the CLIP encoders' pooled outputs give {pooled}.");

        if (transformer.JointAttentionWidth is int joint)
        {
            if (models.T5 is { } t5 && t5.Encoder.GetHiddenSize() != joint)
                throw new ModelContractException(transformer.ModelPath, transformer.EncoderHiddenStatesInput.Name,
                    $"takes tokens {joint} wide; the T5 encoder ({t5.Encoder.ModelPath}) gives {t5.Encoder.GetHiddenSize()}.");
            if (!flux)
            {
                int clipWidth = models.ClipEncoders[0].Encoder.GetHiddenSize() + models.ClipEncoders[1].Encoder.GetHiddenSize();
                if (clipWidth > joint)
                    throw new ModelContractException(transformer.ModelPath, transformer.EncoderHiddenStatesInput.Name,
                        $"takes tokens {joint} wide; the two CLIP encoders' hidden states side by side are {clipWidth} (SD3 pads them to the T5 width).");
            }
        }

        int? transformerChannels = flux
            ? transformer.HiddenStatesInput.GetFixedDimension(2) / 4
            : transformer.HiddenStatesInput.GetFixedDimension(1);
        if (transformerChannels is int channels && channels != models.VaeDecoder.LatentChannels)
            throw new ModelContractException(models.VaeDecoder.ModelPath, models.VaeDecoder.LatentInput.Name,
                $"decodes {models.VaeDecoder.LatentChannels} latent channels; the transformer works in {channels}.");
    }
}
