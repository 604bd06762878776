using System.CommandLine;
using Diffusion.CommandLine;
using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Imaging;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Diffusion.Imaging.Skia;

// Canny edges of a photo steering a Stable Diffusion generation through a ControlNet.
//
// --model: a diffusers ONNX folder whose unet/model.onnx takes ControlNet residuals (split form), with
// --controlnet the matching ControlNet; or a fused UNet (diffusers' convert_stable_diffusion_controlnet_to_onnx.py),
// then --controlnet is not needed (ControlNet 0 is used). SDXL works the same way (an SDXL ControlNet takes text_embeds
// and time_ids too); --unet picks a residual-input UNet export that is not the folder's own. Without --model the sample runs the repository's tiny
// test fixtures (tiny-sd's text encoder and VAE from ../shared, the fixture UNet + ControlNet), which produce noise
// shaped by the edges: it shows the flow, not a picture. See docs/controlnet.md for exporting real models.
string repository = FindRepository();
var image = new Option<string>("--image") { Description = "photo whose edges steer the image", DefaultValueFactory = _ => Path.Combine(repository, "..", "shared", "images", "coffee.png") };
var model = new Option<string?>("--model") { Description = "diffusers ONNX folder (default: the tiny test fixtures)" };
var unetOption = new Option<string?>("--unet") { Description = "UNet model.onnx to use instead of the folder's (a split-form export that takes ControlNet residuals)" };
var controlNetOption = new Option<string?>("--controlnet") { Description = "ControlNet folder or model.onnx (for a UNet that takes residuals)" };
var prompt = new Option<string>("--prompt") { Description = "prompt", DefaultValueFactory = _ => "a cup of coffee on a wooden table, photo" };
var size = new Option<int?>("--size") { Description = "width and height, a multiple of 8 (default 512 with --model, else 64)", CustomParser = BoundedParsers.OptionalInt("--size", 8, 8192, multipleOf: 8) };
var steps = new Option<int>("--steps") { Description = "denoising steps (1 to 1000)", DefaultValueFactory = _ => 20, CustomParser = BoundedParsers.Int("--steps", 1, 1000) };
var scale = new Option<float>("--scale") { Description = "ControlNet conditioning scale (0 to 10)", DefaultValueFactory = _ => 1f, CustomParser = BoundedParsers.Float("--scale", 0f, 10f) };
var low = new Option<int>("--low") { Description = "Canny low threshold (0 to 1000)", DefaultValueFactory = _ => 100, CustomParser = BoundedParsers.Int("--low", 0, 1000) };
var high = new Option<int>("--high") { Description = "Canny high threshold (0 to 1000)", DefaultValueFactory = _ => 200, CustomParser = BoundedParsers.Int("--high", 0, 1000) };
var seed = new Option<ulong>("--seed") { Description = "seed", DefaultValueFactory = _ => 42, CustomParser = BoundedParsers.UInt64("--seed") };
var output = new Option<string>("--output") { Description = "image file to write", DefaultValueFactory = _ => "controlnet.png" };
var root = new RootCommand("ControlNet: Canny edges of --image steer the generation.") { image, model, unetOption, controlNetOption, prompt, size, steps, scale, low, high, seed, output };
root.SetAction(parsed => Run(parsed));
return CommandLineRunner.Run(root, args);

int Run(ParseResult parsed)
{
    string outputPath = parsed.GetValue(output)!;
    if (OutputPath.Check(outputPath) is string outputError)
    {
        Console.Error.WriteLine($"error: {outputError}");
        return 2;
    }
    string? modelFolder = parsed.GetValue(model);
    int side = parsed.GetValue(size) ?? (modelFolder is null ? 64 : 512);
    var session = new SessionSettings();
    try
    {
        string imagePath = parsed.GetValue(image)!;
        ImageBuffer photo = SkiaImageCodec.Load(imagePath);
        ImageBuffer edges = CannyEdgeDetector.Detect(photo, parsed.GetValue(low), parsed.GetValue(high));
        string edgesPath = Path.ChangeExtension(outputPath, null) + "-edges.png";
        SkiaImageCodec.Save(edges, edgesPath);
        Console.WriteLine($"Wrote {edgesPath} (canny edges of {imagePath}, {photo.Width}x{photo.Height})");

        StableDiffusionPipeline pipeline;
        ControlNet? controlNet = null;
        if (modelFolder is not null)
        {
            pipeline = StableDiffusionPipeline.Load(modelFolder, new PipelineSettings { Session = session, UNetModelPath = parsed.GetValue(unetOption) });
            if (!pipeline.UNet.IsFusedControlNet && !pipeline.UNet.AcceptsControlNetResiduals)
            {
                throw new InvalidOptionException("--model",
                    $"{pipeline.Family.Name}: its UNet takes no ControlNet input (neither residuals nor fused ControlNets); ControlNet needs a UNet exported for it: pass one with --unet (docs/controlnet.md).");
            }
            if (!pipeline.UNet.IsFusedControlNet)
            {
                string controlNetPath = parsed.GetValue(controlNetOption)
                    ?? throw new InvalidOptionException("--controlnet", "the UNet takes residuals: pass the ControlNet with --controlnet.");
                controlNet = ControlNet.Load(Directory.Exists(controlNetPath) ? Path.Combine(controlNetPath, "model.onnx") : controlNetPath, session);
            }
        }
        else
        {
            string tinySd = Path.Combine(repository, "..", "shared", "models", "tiny-sd");
            string fixtures = Path.Combine(repository, "tests", "Diffusion.Core.Tests", "TestData", "controlnet");
            pipeline = new StableDiffusionPipeline(
                ClipTokenizer.FromDirectory(Path.Combine(tinySd, "tokenizer")),
                TextEncoder.Load(Path.Combine(tinySd, "text_encoder", "model.onnx"), session),
                UNet.Load(Path.Combine(fixtures, "unet-controlnet", "model.onnx"), session),
                VaeDecoder.Load(Path.Combine(tinySd, "vae_decoder", "model.onnx"), session),
                SchedulerCatalog.Create("Euler", SchedulerConfig.StableDiffusion15));
            controlNet = ControlNet.Load(Path.Combine(fixtures, "controlnet-a", "model.onnx"), session);
        }

        using (pipeline)
        using (controlNet)
        {
            var unit = new ControlNetUnit
            {
                Model = controlNet,
                FusedIndex = controlNet is null ? 0 : null,
                Image = edges,
                ConditioningScale = parsed.GetValue(scale),
                Resize = ControlNetImageResize.Cover,
            };
            GenerationResult generated = pipeline.Generate(new GenerationOptions
            {
                Prompt = parsed.GetValue(prompt)!,
                Steps = parsed.GetValue(steps),
                Width = side,
                Height = side,
                Seed = parsed.GetValue(seed),
                ControlNets = [unit],
            });
            SkiaImageCodec.Save(generated.Images[0], outputPath);
            Console.WriteLine($"Wrote {outputPath} ({side}x{side}); {generated.Timings}");
        }
        return 0;
    }
    catch (DiffusionException ex)
    {
        Console.Error.WriteLine($"error: {ex.Message}");
        return 1;
    }
}

static string FindRepository()
{
    var directory = new DirectoryInfo(AppContext.BaseDirectory);
    while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Diffusion.Core.sln")))
        directory = directory.Parent;
    return directory?.FullName ?? Directory.GetCurrentDirectory();
}
