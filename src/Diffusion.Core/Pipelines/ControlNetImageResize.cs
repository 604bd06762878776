namespace Diffusion.Core.Pipelines;

/// <summary>How a ControlNet's control image is brought to the generation size.</summary>
public enum ControlNetImageResize
{
    /// <summary>
    /// Resize to exactly width×height ignoring the aspect ratio (Lanczos, Pillow's <c>Image.resize</c>): what
    /// diffusers' ControlNet pipelines do (<c>VaeImageProcessor.preprocess</c> with <c>resize_mode="default"</c>).
    /// </summary>
    Stretch,

    /// <summary>
    /// Scale preserving the aspect ratio to cover width×height, then center-crop (<see cref="Imaging.ImageOperations.ResizeToCover"/>,
    /// diffusers' <c>resize_mode="crop"</c>, A1111's "Crop and Resize").
    /// </summary>
    Cover,

    /// <summary>Use the image as it is; it must already be width×height, else the call fails with <see cref="InvalidOptionException"/>.</summary>
    None,
}
