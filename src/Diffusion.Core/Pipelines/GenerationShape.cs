using Diffusion.Core.Imaging;
using Diffusion.Core.Models;

namespace Diffusion.Core.Pipelines;

/// <summary>A call's shape: its output size, how many latents each UNet call takes, and the size errors the UNet's failures mean.</summary>
internal static class GenerationShape
{
    /// <summary>The output size (diffusers' inpaint pipeline defaults to the UNet's size, img2img to the image's) and the UNet checks that depend on the task.</summary>
    public static (int Width, int Height) ResolveSize(UNet unet, int defaultImageSize, GenerationOptions options)
    {
        ImageBuffer? initImage = options.InitImage;
        bool inpainting = options.Mask is not null;
        if (unet.InChannels == 9 && !inpainting)
            throw new InvalidOptionException(nameof(GenerationOptions.Mask),
                $"the UNet ({unet.ModelPath}) takes 9 input channels: it is an inpainting model and needs an InitImage and a Mask.");
        if (inpainting && unet.InChannels is not (4 or 9))
            throw new ModelContractException(unet.ModelPath, unet.SampleInput.Name,
                $"inpainting needs a UNet with 4 or 9 input channels, this one takes {unet.InChannels}.");
        if (unet.IsFusedControlNet && unet.ConditioningInputs.Count > 0 && options.ControlNets.Count > 0)
        {
            // The fused form comes from diffusers' SD 1.x/2.x convert script only; SDXL ControlNets run in the split form.
            throw new InvalidOptionException(nameof(GenerationOptions.ControlNets),
                $"are not supported with a fused ControlNet UNet that also takes added conditioning ({string.Join(", ", unet.ConditioningInputs.Select(i => i.Name))}); " +
                "export the SDXL UNet with residual inputs and the ControlNet on its own (the split form).");
        }
        if (options.InitLatents is { } initLatents)
        {
            if (initLatents.Channels != unet.OutChannels)
                throw new InvalidOptionException(nameof(GenerationOptions.InitLatents), $"have {initLatents.Channels} channels; the UNet ({unet.ModelPath}) works in {unet.OutChannels}.");
            return (initLatents.Width * 8, initLatents.Height * 8);
        }
        return initImage is null || inpainting
            ? (options.Width ?? defaultImageSize, options.Height ?? defaultImageSize)
            : InpaintingMask.ResolveSize(initImage, options.Width, options.Height);
    }

    /// <summary>How many latents one UNet call takes: the fixed batch of a static export, else all of them (or half, with separate guidance).</summary>
    public static int ImagesPerCall(UNet unet, ClassifierFreeGuidanceMode guidanceMode, int batch, bool guided)
    {
        int modelBatch = guided ? 2 * batch : batch;
        int? fixedBatch = unet.FixedBatchSize;
        if (fixedBatch is int f)
        {
            if (modelBatch % f != 0)
                throw new InvalidOptionException(nameof(GenerationOptions.ImagesPerPrompt),
                    $"the UNet ({unet.ModelPath}) has a fixed batch of {f}, which does not divide the {modelBatch} latents this call needs.");
            if (guidanceMode == ClassifierFreeGuidanceMode.Batched && f != modelBatch)
                throw new InvalidOptionException(nameof(PipelineSettings.GuidanceMode),
                    $"Batched guidance needs a UNet batch of {modelBatch}, but {unet.ModelPath} has a fixed batch of {f}.");
            return f;
        }
        return guidanceMode == ClassifierFreeGuidanceMode.Separate && guided ? batch : modelBatch;
    }

    /// <summary>
    /// The UNet failed at a size whose latent is not a multiple of 8: Stable Diffusion UNets down- and up-sample three
    /// times, and exported graphs join the two paths with fixed factors, so ONNX Runtime fails in a Concat. Reported
    /// as the size option (or the init image the size came from), with ONNX Runtime's words kept as the inner error.
    /// </summary>
    public static InvalidOptionException SizeNotSupported(GenerationOptions options, int width, int height, DiffusionException error)
    {
        (string option, string source) = SizeSource(options, width, height, 64);
        return new InvalidOptionException(option,
            $"the UNet cannot run at {source}: its latent ({width / 8}x{height / 8}) must be divisible by its down-sampling factor, "
            + "8 for Stable Diffusion UNets, so width and height must be multiples of 64 pixels (give Width/Height, e.g. 512 or 576).", error);
    }

    /// <summary>
    /// Refuses, before any model runs, a size that is not a multiple of <paramref name="multiple"/> (the VAE's 8 times
    /// the UNet's down-sampling, known from the folder's <c>unet/config.json</c>).
    /// </summary>
    public static void RequireSizeMultiple(GenerationOptions options, int width, int height, int? multiple)
    {
        if (multiple is not int m || (width % m == 0 && height % m == 0))
            return;
        (string option, string source) = SizeSource(options, width, height, m);
        throw new InvalidOptionException(option,
            $"this model's UNet (unet/config.json block_out_channels) needs width and height that are multiples of {m} pixels (8 for the VAE × 2 per down-sampling between its {BitLength(m / 8)} blocks), got {source}.");
    }

    // Which option set the size at fault: the image it came from, else the first of Width/Height that is off.
    private static (string Option, string Source) SizeSource(GenerationOptions options, int width, int height, int multiple)
    {
        if (options.Width is null && options.Height is null && options.InitImage is not null)
            return (nameof(GenerationOptions.InitImage), $"the size {width}x{height} taken from the image ({options.InitImage.Width}x{options.InitImage.Height})");
        string option = width % multiple != 0 && options.Width is not null ? nameof(GenerationOptions.Width) : nameof(GenerationOptions.Height);
        return (option, $"{width}x{height}");
    }

    private static int BitLength(int value) => 32 - int.LeadingZeroCount(value);
}
