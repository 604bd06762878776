using Diffusion.Imaging.Skia;
using Diffusion.Samples;

// Image-to-image: "photo to oil painting". Encodes --image with the VAE, noises it to the strength's start step and
// denoises the rest with the prompt. Strength 0 returns the VAE round trip; 1 repaints from (almost) pure noise.
var defaults = SampleDefaults.Common with
{
    Prompt = "an oil painting of an astronaut, thick brush strokes, impasto, museum piece",
    NegativePrompt = "photo, blurry",
    Image = SampleDefaults.SharedFile("images/astronaut.png"),
    Strength = 0.6,
    Output = "oil-painting.png",
    Scheduler = "DPM++ 2M",
};
return SampleRunner.Run(args, "Image-to-image: repaints --image with the prompt, as much as --strength says.", defaults,
    imageInputs: true, maskInputs: false,
    static (arguments, options) => options with
    {
        InitImage = SkiaImageCodec.Load(arguments.Image!),
        Strength = arguments.Strength,
    });
