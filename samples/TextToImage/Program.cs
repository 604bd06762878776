using Diffusion.Samples;

// Text-to-image from the command line: loads a diffusers ONNX model folder and writes PNG files.
return SampleRunner.Run(args, "Usage: TextToImage [options]\n" + SampleArguments.CommonUsage, new SampleArguments(),
    static (_, options) => options);
