using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The denoising loop's ControlNet hook: replaces each UNet call with "run the active ControlNets on the same
/// scaled latents, timestep and text embeddings, sum their residuals, run the UNet with them" (split form),
/// or "run the fused UNet with the control images and this step's scales" (fused form). It does not care how
/// the latents started, so text-to-image, image-to-image and inpainting share it.
/// </summary>
/// <remarks>
/// With classifier-free guidance both halves get the same control image (diffusers' <c>guess_mode=False</c>:
/// the image is repeated for the batch, then doubled). Control images, residual buffers and scales are
/// prepared once per generation; a step allocates nothing. A unit whose scale is 0 at a step (off, or outside
/// its guidance window) is not run: its residuals would be zeros.
/// </remarks>
internal sealed class ControlNetConditioner
{
    private readonly ControlNetUnit[] _units;
    private readonly float[][] _images = [];
    private readonly float[] _fusedImages = [];
    private readonly float[] _fusedScales = [];
    private readonly bool _fused;
    private readonly int _imagesPerCall;
    private ControlNetResiduals? _sum;
    private ControlNetResiduals? _scratch;
    private float[] _latentsOnly = [];

    private ControlNetConditioner(UNet unet, ControlNetUnit[] units, int width, int height, int imagesPerCall)
    {
        _units = units;
        _fused = unet.IsFusedControlNet;
        _imagesPerCall = imagesPerCall;
        int perImage = 3 * width * height;
        float[][] prepared = new float[units.Length][];
        for (int k = 0; k < units.Length; k++)
        {
            prepared[k] = new float[perImage];
            ImageTensorConverter.ToUnitTensor(PrepareImage(units[k], k, width, height), prepared[k]);
        }
        if (_fused)
        {
            int count = unet.FusedControlNetCount ?? MaxFusedIndex(units) + 1;
            _fusedScales = new float[count];
            _fusedImages = new float[count * imagesPerCall * perImage];
            for (int k = 0; k < units.Length; k++)
            {
                int index = units[k].FusedIndex!.Value;
                for (int copy = 0; copy < imagesPerCall; copy++)
                    prepared[k].CopyTo(_fusedImages.AsSpan((index * imagesPerCall + copy) * perImage, perImage));
            }
        }
        else
        {
            _images = new float[units.Length][];
            for (int k = 0; k < units.Length; k++)
            {
                _images[k] = new float[imagesPerCall * perImage];
                for (int copy = 0; copy < imagesPerCall; copy++)
                    prepared[k].CopyTo(_images[k].AsSpan(copy * perImage, perImage));
            }
        }
    }

    /// <summary>
    /// Checks <paramref name="units"/> against <paramref name="unet"/> and prepares their control images for
    /// width×height; <see langword="null"/> when there are no units.
    /// </summary>
    /// <exception cref="InvalidOptionException">A unit does not fit the UNet's form, an index is out of range or repeated, or an image has the wrong size with resizing off.</exception>
    /// <exception cref="ModelContractException">The UNet takes no ControlNet inputs, or a ControlNet's residuals do not match the UNet's residual inputs.</exception>
    public static ControlNetConditioner? Create(UNet unet, IReadOnlyList<ControlNetUnit> units, int width, int height, int imagesPerCall)
    {
        ArgumentNullException.ThrowIfNull(unet);
        if (units is null || units.Count == 0)
            return null;
        var array = new ControlNetUnit[units.Count];
        for (int k = 0; k < array.Length; k++)
            array[k] = units[k];
        if (unet.IsFusedControlNet)
            ControlNetCompatibility.CheckFused(unet, array);
        else
            ControlNetCompatibility.CheckSplit(unet, array);
        return new ControlNetConditioner(unet, array, width, height, imagesPerCall);
    }

    /// <summary>
    /// Stands in for one <see cref="UNet.Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, Microsoft.ML.OnnxRuntime.RunOptions?)"/> call of the loop at step <paramref name="step"/> of
    /// <paramref name="totalSteps"/> (counted from the loop's first step, as diffusers counts its timesteps). The
    /// UNet call's added conditioning (SDXL's text_embeds and time_ids), when given, goes to an SDXL ControlNet too, as
    /// diffusers' SDXL ControlNet pipeline passes it (guess mode off).
    /// </summary>
    public void Predict(UNet unet, int step, int totalSteps, Memory<float> sample, int batch, int height, int width, float timestep,
        Memory<float> encoderHiddenStates, int sequenceLength, IReadOnlyDictionary<string, Memory<float>>? added,
        Memory<float> noisePrediction, RunOptions runOptions)
    {
        if (batch != _imagesPerCall)
            throw new ArgumentException($"The control images were prepared for UNet calls of {_imagesPerCall} images, got {batch}.", nameof(batch));
        if (_fused)
        {
            Array.Clear(_fusedScales);
            foreach (ControlNetUnit unit in _units)
                _fusedScales[unit.FusedIndex!.Value] = unit.IsActiveAt(step, totalSteps) ? unit.ConditioningScale : 0f;
            unet.PredictWithControlNet(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength,
                noisePrediction, _fusedImages, _fusedScales, runOptions);
            return;
        }

        EnsureResiduals(unet, batch, height, width);
        Memory<float> controlSample = LatentChannels(unet, sample, batch, height, width);
        bool any = false;
        for (int k = 0; k < _units.Length; k++)
        {
            ControlNetUnit unit = _units[k];
            float scale = unit.IsActiveAt(step, totalSteps) ? unit.ConditioningScale : 0f;
            if (scale == 0f)
                continue;
            ControlNetResiduals target = any ? _scratch! : _sum!;
            if (added is null)
                unit.Model!.Run(controlSample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, _images[k], scale, target, runOptions);
            else
                unit.Model!.Run(controlSample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, added, _images[k], scale, target, runOptions);
            if (any)
                _sum!.Add(_scratch!);
            any = true;
        }
        if (!any)
            _sum!.Clear();
        if (added is null)
            unet.PredictWithControlNet(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, noisePrediction, _sum!, runOptions);
        else
            unet.PredictWithControlNet(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, added, noisePrediction, _sum!, runOptions);
    }

    /// <summary>
    /// The ControlNets' sample: the UNet's input itself, or for an inpainting UNet (9 channels: latents, mask,
    /// masked-image latents) its first 4 channels of each image, as diffusers' ControlNet inpaint pipeline feeds
    /// the ControlNet the plain latents.
    /// </summary>
    private Memory<float> LatentChannels(UNet unet, Memory<float> sample, int batch, int height, int width)
    {
        int latentChannels = _units[0].Model!.SampleInput.GetFixedDimension(1) ?? 4;
        if (unet.InChannels <= latentChannels)
            return sample;
        int plane = height * width;
        int perImage = latentChannels * plane, perInput = unet.InChannels * plane;
        if (_latentsOnly.Length != batch * perImage)
            _latentsOnly = new float[batch * perImage];
        Span<float> source = sample.Span;
        for (int n = 0; n < batch; n++)
            source.Slice(n * perInput, perImage).CopyTo(_latentsOnly.AsSpan(n * perImage, perImage));
        return _latentsOnly;
    }

    private void EnsureResiduals(UNet unet, int batch, int height, int width)
    {
        if (_sum is not null && _sum.Batch == batch && _sum.Height == height && _sum.Width == width)
            return;
        _sum = CreateResiduals(unet, _units[0].Model!, batch, height, width);
        _scratch = _units.Length > 1 ? CreateResiduals(unet, _units[0].Model!, batch, height, width) : null;
    }

    private static ControlNetResiduals CreateResiduals(UNet unet, ControlNet controlNet, int batch, int height, int width)
    {
        foreach (TensorSpec input in unet.DownBlockResidualInputs)
        {
            if (input.GetFixedDimension(1) is null)
                return controlNet.CreateResiduals(batch, height, width);
        }
        return unet.MidBlockResidualInput!.GetFixedDimension(1) is null
            ? controlNet.CreateResiduals(batch, height, width)
            : unet.CreateControlNetResiduals(batch, height, width);
    }

    private static ImageBuffer PrepareImage(ControlNetUnit unit, int index, int width, int height)
    {
        ImageBuffer image = unit.Image!;
        switch (unit.Resize)
        {
            case ControlNetImageResize.Stretch:
                return ImageOperations.Resize(image, width, height);
            case ControlNetImageResize.Cover:
                return ImageOperations.ResizeToCover(image, width, height);
            default:
                if (image.Width != width || image.Height != height)
                    throw new InvalidOptionException($"{nameof(GenerationOptions.ControlNets)}[{index}].{nameof(ControlNetUnit.Image)}",
                        $"is {image.Width}x{image.Height} but the generation is {width}x{height} and {nameof(ControlNetUnit.Resize)} is {nameof(ControlNetImageResize.None)}; " +
                        $"pass an image of that size or set {nameof(ControlNetUnit.Resize)} to {nameof(ControlNetImageResize.Stretch)} or {nameof(ControlNetImageResize.Cover)}.");
                return image;
        }
    }

    private static int MaxFusedIndex(ControlNetUnit[] units)
    {
        int max = 0;
        foreach (ControlNetUnit unit in units)
            max = Math.Max(max, unit.FusedIndex ?? 0);
        return max;
    }
}
