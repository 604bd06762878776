using Diffusion.Imaging.Skia;
using Diffusion.Samples;

// Image-to-image: "photo to oil painting". Encodes --image with the VAE, noises it to the strength's start step and
// denoises the rest with the prompt. Strength 0 returns the VAE round trip; 1 repaints from (almost) pure noise.
var defaults = new SampleArguments
{
    Prompt = "an oil painting of an astronaut, thick brush strokes, impasto, museum piece",
    NegativePrompt = "photo, blurry",
    Image = SampleArguments.SharedFile("images/astronaut.png"),
    Strength = 0.6,
    Output = "oil-painting.png",
    Scheduler = "DPM++ 2M",
};
return SampleRunner.Run(args, "Usage: ImageToImage [options]\n" + SampleArguments.CommonUsage + SampleArguments.ImageUsage, defaults,
    static (arguments, options) => options with
    {
        InitImage = SkiaImageCodec.Load(arguments.Image!),
        Strength = arguments.Strength,
    });
