using Diffusion.Core.Imaging;
using Diffusion.Imaging.Skia;
using Diffusion.Samples;

// Inpainting: repaints the white part of --mask (a centred rectangle when none is given) and keeps the rest. Works with
// any SD UNet (4 channels: the kept region is re-noised and blended back each step) and with inpainting UNets
// (9 channels: the mask and the masked image are extra UNet inputs). --preserve pastes the original pixels back.
var defaults = SampleDefaults.Common with
{
    Prompt = "a golden astronaut helmet, highly detailed",
    NegativePrompt = "blurry",
    Image = SampleDefaults.SharedFile("images/astronaut.png"),
    Output = "inpainted.png",
    Scheduler = "DPM++ 2M",
};
return SampleRunner.Run(args, "Inpainting: repaints the white part of --mask (default: a centred rectangle) and keeps the rest.", defaults,
    imageInputs: true, maskInputs: true,
    static (arguments, options) =>
    {
        ImageBuffer image = SkiaImageCodec.Load(arguments.Image!);
        ImageBuffer mask = arguments.Mask is null ? CentreRectangle(image.Width, image.Height) : SkiaImageCodec.Load(arguments.Mask);
        return options with
        {
            InitImage = image,
            Mask = mask,
            Strength = arguments.Strength,
            PreserveUnmaskedPixels = arguments.PreserveUnmasked,
            MaskBlur = arguments.MaskBlur,
            // diffusers' inpaint pipeline would use the model's size; keep the image's unless asked otherwise.
            Width = options.Width ?? image.Width - image.Width % 8,
            Height = options.Height ?? image.Height - image.Height % 8,
        };
    });

// White over the middle half of the image (a quarter of its area), black elsewhere.
static ImageBuffer CentreRectangle(int width, int height)
{
    var mask = new ImageBuffer(width, height);
    for (int y = height / 4; y < height * 3 / 4; y++)
        mask.Pixels.AsSpan(3 * (y * width + width / 4), 3 * (width / 2)).Fill(255);
    return mask;
}
