using System.Diagnostics;
using System.Numerics.Tensors;
using Diffusion.Core.Families;
using Diffusion.Core.Imaging;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>The family-specific stages of a flow-matching call: what it may ask for, the schedule, the decode.</summary>
public sealed partial class FlowMatchingPipeline
{
    /// <summary>Options this version does not run for SD3/FLUX.1 are refused by name, never ignored.</summary>
    private void RequireSupported(GenerationOptions options)
    {
        (string Option, bool Given)[] notHere =
        [
            (nameof(GenerationOptions.InitImage), options.InitImage is not null), (nameof(GenerationOptions.InitLatents), options.InitLatents is not null),
            (nameof(GenerationOptions.ControlNets), options.ControlNets.Count > 0), (nameof(GenerationOptions.DenoisingEnd), options.DenoisingEnd is not null),
            (nameof(GenerationOptions.PromptSyntax), options.PromptSyntax != PromptSyntax.Plain),
        ];
        foreach ((string option, bool given) in notHere)
        {
            if (given)
                throw new InvalidOptionException(option, $"is not supported for {Family.Name} models in this version (text-to-image with plain prompts).");
        }
        if (Family != ModelFamily.Flux)
            return;
        // FluxPipeline uses a negative prompt only with true_cfg_scale > 1 (two transformer runs a step), not run here.
        if (options.NegativePrompt.Length > 0)
            throw new InvalidOptionException(nameof(GenerationOptions.NegativePrompt), "FLUX.1 is guidance-distilled and takes no negative prompt (diffusers' true CFG is not run in this version).");
        if (options.ClipSkip != 1)
            throw new InvalidOptionException(nameof(GenerationOptions.ClipSkip), "FLUX.1 conditions on CLIP's pooled output only; there is no layer to skip.");
        if (!Transformer.TakesGuidance && options.GuidanceScale is float scale && scale > 1f)
            throw new InvalidOptionException(nameof(GenerationOptions.GuidanceScale), $"is {scale}, but this FLUX.1 transformer (schnell) embeds no guidance and FLUX.1 runs no classifier-free guidance; leave it unset.");
    }

    /// <summary>Both families patchify 2×2 latent pixels (FLUX.1 packs, SD3's patch_size 2): sides must be multiples of 16.</summary>
    private static void RequireSizeMultiple(GenerationOptions options, int width, int height)
    {
        if (width % 16 == 0 && height % 16 == 0)
            return;
        string option = width % 16 != 0 ? nameof(GenerationOptions.Width) : nameof(GenerationOptions.Height);
        throw new InvalidOptionException(option, $"SD3 and FLUX.1 need width and height that are multiples of 16 pixels (the VAE's 8 × 2×2 patches), got {width}x{height}.");
    }

    /// <summary>
    /// FluxPipeline: custom sigmas <c>linspace(1, 1/steps, steps)</c> and mu from the packed token count (only a scheduler
    /// that takes custom sigmas, FlowMatchEulerDiscreteScheduler, can run them). SD3: <c>set_timesteps(steps)</c>, with mu
    /// from the patch count when the config uses dynamic shifting (SD3.5's does not).
    /// </summary>
    private void SetTimesteps(IScheduler scheduler, int steps, int latentHeight, int latentWidth)
    {
        if (scheduler is not FlowMatchSchedulerBase)
            throw new InvalidOptionException(nameof(GenerationOptions.Scheduler), $"{scheduler.GetType().Name} is not a flow-matching scheduler; {Family.Name} models need one (FlowMatchEulerDiscreteScheduler, FlowMatchHeunDiscreteScheduler).");
        int imageTokens = FluxLatents.ImageSequenceLength(latentHeight, latentWidth);
        if (scheduler is FlowMatchEulerDiscreteScheduler euler)
        {
            double? mu = Family == ModelFamily.Flux || euler.Config.UseDynamicShifting ? FlowMatchSigmas.CalculateShift(imageTokens, euler.Config) : null;
            euler.SetTimesteps(steps, Family == ModelFamily.Flux ? FlowMatchSigmas.FluxDefaultSigmas(steps) : null, mu);
            return;
        }
        if (Family == ModelFamily.Flux)
            throw new InvalidOptionException(nameof(GenerationOptions.Scheduler), $"FluxPipeline passes custom sigmas, which {scheduler.GetType().Name} does not take (diffusers refuses the same); use FlowMatchEulerDiscreteScheduler.");
        scheduler.SetTimesteps(steps);
    }

    /// <summary>latents / scaling + shift → VAE decoder → [-1, 1] images → RGB bytes; NaN or ∞ refused.</summary>
    private (ImageBuffer[] Images, long DecoderTicks, long ConversionTicks) Decode(float[] latents, int batch, int width, int height, RunOptions runOptions)
    {
        float[] decoderInput = new float[latents.Length];
        TensorPrimitives.Divide(latents, VaeScalingFactor, decoderInput);
        TensorPrimitives.Add(decoderInput, VaeShiftFactor, decoderInput);
        float[] decoded = new float[batch * 3 * height * width];
        long d0 = Stopwatch.GetTimestamp();
        _models.VaeDecoder.Decode(decoderInput, batch, height / 8, width / 8, decoded, runOptions);
        _models.ReleaseIfSequential(_models.VaeDecoder);
        long d1 = Stopwatch.GetTimestamp();
        DenoisingLoop.RequireFinite(decoded, "VAE decoder", _models.VaeDecoder.ModelPath, null);
        ImageBuffer[] images = ImageTensorConverter.FromTensor(decoded, batch, height, width);
        return (images, d1 - d0, Stopwatch.GetTimestamp() - d1);
    }
}
