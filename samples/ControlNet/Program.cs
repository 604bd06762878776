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
//   dotnet run --project samples/ControlNet -- [--image ../shared/images/coffee.png] [--model <SD ONNX folder>]
//       [--controlnet <controlnet folder or model.onnx>] [--prompt "..."] [--size 512] [--steps 20] [--scale 1.0]
//       [--low 100] [--high 200] [--seed 42] [--output controlnet.png]
//
// --model: a diffusers ONNX folder whose unet/model.onnx takes ControlNet residuals (split form), with
// --controlnet the matching ControlNet; or a fused UNet (diffusers' convert_stable_diffusion_controlnet_to_onnx.py),
// then --controlnet is not needed (ControlNet 0 is used). Without --model the sample runs the repository's tiny
// test fixtures (tiny-sd's text encoder and VAE from ../shared, the fixture UNet + ControlNet), which produce noise
// shaped by the edges: it shows the flow, not a picture. See docs/controlnet.md for exporting real models.
var options = ParseArguments(args);
if (options is null)
    return 2;

string repository = FindRepository();
string imagePath = options.GetValueOrDefault("image") ?? Path.Combine(repository, "..", "shared", "images", "coffee.png");
string output = options.GetValueOrDefault("output") ?? "controlnet.png";
int size = int.Parse(options.GetValueOrDefault("size") ?? (options.ContainsKey("model") ? "512" : "64"), System.Globalization.CultureInfo.InvariantCulture);
var session = new SessionSettings();

try
{
    ImageBuffer photo = SkiaImageCodec.Load(imagePath);
    ImageBuffer edges = CannyEdgeDetector.Detect(photo, Number("low", 100), Number("high", 200));
    string edgesPath = Path.ChangeExtension(output, null) + "-edges.png";
    SkiaImageCodec.Save(edges, edgesPath);
    Console.WriteLine($"Wrote {edgesPath} (canny edges of {imagePath}, {photo.Width}x{photo.Height})");

    StableDiffusionPipeline pipeline;
    ControlNet? controlNet = null;
    if (options.TryGetValue("model", out string? model))
    {
        pipeline = StableDiffusionPipeline.Load(model, new PipelineSettings { Session = session });
        if (!pipeline.UNet.IsFusedControlNet)
        {
            string controlNetPath = options.GetValueOrDefault("controlnet")
                ?? throw new InvalidOptionException("controlnet", "the UNet takes residuals: pass the ControlNet with --controlnet.");
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
            ConditioningScale = (float)Number("scale", 1.0),
            Resize = ControlNetImageResize.Cover,
        };
        GenerationResult result = pipeline.Generate(new GenerationOptions
        {
            Prompt = options.GetValueOrDefault("prompt") ?? "a cup of coffee on a wooden table, photo",
            Steps = (int)Number("steps", 20),
            Width = size,
            Height = size,
            Seed = (ulong)Number("seed", 42),
            ControlNets = [unit],
        });
        SkiaImageCodec.Save(result.Images[0], output);
        Console.WriteLine($"Wrote {output} ({size}x{size}); {result.Timings}");
    }
    return 0;
}
catch (DiffusionException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}

double Number(string name, double fallback) =>
    options.TryGetValue(name, out string? text) ? double.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : fallback;

static Dictionary<string, string>? ParseArguments(string[] arguments)
{
    var parsed = new Dictionary<string, string>(StringComparer.Ordinal);
    for (int i = 0; i < arguments.Length; i++)
    {
        if (!arguments[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= arguments.Length)
        {
            Console.Error.WriteLine($"Unexpected argument '{arguments[i]}'; options are --name value pairs (see Program.cs).");
            return null;
        }
        parsed[arguments[i][2..]] = arguments[++i];
    }
    return parsed;
}

static string FindRepository()
{
    var directory = new DirectoryInfo(AppContext.BaseDirectory);
    while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Diffusion.Core.sln")))
        directory = directory.Parent;
    return directory?.FullName ?? Directory.GetCurrentDirectory();
}
