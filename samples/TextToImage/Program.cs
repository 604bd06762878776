using Diffusion.Samples;

// Text-to-image from the command line: loads a diffusers ONNX model folder and writes image files.
return SampleRunner.Run(args, "Text-to-image: generates images from a prompt with a diffusers ONNX model folder.",
    SampleDefaults.Common, imageInputs: false, maskInputs: false, static (_, options) => options);
