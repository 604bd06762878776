using System.CommandLine;
using Diffusion.CommandLine;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;

namespace Diffusion.Cli;

/// <summary>The options <c>generate</c> adds to the shared generation options of <see cref="GenerationCommandLine"/>.</summary>
internal sealed class GenerateOptions
{
    public Option<string?> From { get; } = new("--from") { Description = "re-create an image from the settings in its PNG (A1111 'parameters'); options given here win" };
    public Option<string?> Preview { get; } = new("--preview") { Description = "folder to write a preview into every --preview-every steps (SD 1.x/2.x latents)" };
    public Option<string?> PreviewVae { get; } = new("--preview-vae") { Description = "decode previews with this small VAE decoder (model.onnx or a folder with vae_decoder/, e.g. TAESD) instead of the latent projection" };
    public Option<int> PreviewEvery { get; } = new("--preview-every")
    {
        Description = "steps between previews (1 to 1000)",
        DefaultValueFactory = _ => 5,
        CustomParser = BoundedParsers.Int("--preview-every", 1, 1000),
    };
    public Option<MemoryMode> MemoryMode { get; } = new("--memory-mode")
    {
        Description = "Auto (KeepLoaded when every model fits in the memory available, else Sequential; the default), KeepLoaded (fastest) or Sequential (each model loaded for its stage only: least memory)",
        DefaultValueFactory = _ => Core.Pipelines.MemoryMode.Auto,
    };
    public Option<WeightQuantization> Quantization { get; } = new("--quantization")
    {
        Description = "None, Int8 or Int4: the text encoders' and the UNet's/transformer's linear layers quantised at load (CPU provider; less memory, int8 close to None)",
        DefaultValueFactory = _ => WeightQuantization.None,
    };
    public Option<OptimizationLevel> OptimizationLevel { get; } = new("--optimization-level")
    {
        Description = "ONNX Runtime graph optimisation: Automatic (All for small models, Extended above 64 MiB: fast loads), Disabled, Basic, Extended or All (slow loads of real-size models, sometimes faster steps)",
        DefaultValueFactory = _ => Cli.OptimizationLevel.Automatic,
    };
    public Option<bool> QuantizeConvolutions { get; } = new("--quantize-convolutions")
    {
        Description = "hold the UNet's and text encoders' convolution weights as int8 per channel (CPU provider; about 40 % of the UNet's float32 memory with --quantization)",
    };
    public Option<bool> QuantizeActivations { get; } = new("--quantize-activations")
    {
        Description = "the int8 layers (--quantization Int8, --quantize-convolutions) also compute in int8, their activations quantised as they run (CPU provider; about half the float32 UNet step, measured on a CPU with AVX-512 VNNI)",
    };
    public Option<bool> NoMetadata { get; } = new("--no-metadata") { Description = "do not write the settings into the PNG" };
    public Option<string?> ControlNet { get; } = new("--controlnet") { Description = "ControlNet folder or model.onnx (for a UNet that takes ControlNet residuals)" };
    public Option<string?> ControlImage { get; } = new("--control-image") { Description = "the image that steers the ControlNet (edges, depth, pose...)" };
    public Option<bool> Canny { get; } = new("--canny") { Description = "turn --control-image into Canny edges first (thresholds 100/200)" };
    public Option<float> ControlScale { get; } = new("--control-scale")
    {
        Description = "ControlNet conditioning scale (0 to 10)",
        DefaultValueFactory = _ => 1f,
        CustomParser = BoundedParsers.Float("--control-scale", 0f, 10f),
    };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { From, Preview, PreviewVae, PreviewEvery, MemoryMode, OptimizationLevel, Quantization, QuantizeConvolutions, QuantizeActivations, NoMetadata, ControlNet, ControlImage, Canny, ControlScale })
            command.Options.Add(option);
    }
}
