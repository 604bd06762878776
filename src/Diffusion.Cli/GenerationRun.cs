using System.CommandLine;
using System.Diagnostics;
using Diffusion.CommandLine;
using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Families;
using Diffusion.Core.Imaging;
using Diffusion.Core.Metadata;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Hub;
using Diffusion.Imaging.Skia;

namespace Diffusion.Cli;

/// <summary>One <c>generate</c> invocation after parsing: check inputs, locate and load the model, generate, write images.</summary>
internal sealed class GenerationRun(GenerationArguments arguments, GenerateOptions extra, ParseResult parsed, int? batchPosition, bool writeSettings)
{
    public int Execute(CancellationToken ct)
    {
        GenerationOptions options;
        SessionSettings session;
        SessionSettings? quantized; // the text encoders' and denoiser's settings when --quantization is given
        try
        {
            options = WithInputs(arguments.ToGenerationOptions());
            options.Validate();
            session = new SessionSettings
            {
                Provider = ExecutionProvider.Parse(arguments.Provider),
                IntraOpThreads = arguments.Threads,
                GraphOptimizationLevel = parsed.GetValue(extra.OptimizationLevel).ToSessionSetting(),
                // Optimised graphs kept between runs: a real-size model loads in under a second after its first run.
                OptimizedModelCache = Environment.GetEnvironmentVariable("DIFFUSION_ORT_CACHE") is { Length: > 0 } cache ? cache : null,
            };
            session.Validate();
            WeightQuantization quantization = parsed.GetValue(extra.Quantization);
            bool convolutions = parsed.GetValue(extra.QuantizeConvolutions), activations = parsed.GetValue(extra.QuantizeActivations);
            if (activations && quantization != WeightQuantization.Int8 && !convolutions)
                throw new InvalidOptionException("--quantize-activations", "makes the int8 layers compute in int8; give --quantization Int8 and/or --quantize-convolutions with it.");
            quantized = quantization != WeightQuantization.None || convolutions
                ? session with { Quantization = quantization, QuantizeConvolutions = convolutions, QuantizeActivations = activations }
                : null;
            quantized?.Validate();
            if (parsed.GetValue(extra.Preview) is { } previewFolder)
                Directory.CreateDirectory(previewFolder);
            else if (parsed.GetValue(extra.PreviewVae) is not null)
                throw new InvalidOptionException("--preview-vae", "previews are written only with --preview FOLDER.");
        }
        catch (InvalidOptionException ex)
        {
            return BadOption(ex, CommandLineRunner.BadCommandLine); // refused before any work: a command-line error
        }
        catch (Exception ex) when (ex is DiffusionException or IOException or UnauthorizedAccessException)
        {
            return ConsoleOutput.Error(ex.Message);
        }

        try
        {
            string model = ModelLocator.Resolve(arguments.Model, ct);
            var loadWatch = Stopwatch.StartNew();
            var settings = new PipelineSettings
            {
                Session = session,
                TextEncoderSession = quantized,
                UNetSession = quantized,
                UNetModelPath = arguments.UNet,
                ConfigDirectory = arguments.ConfigDirectory,
                VaePath = arguments.Vae,
                PredictionType = arguments.PredictionType,
                Loras = arguments.Loras,
                LoraDirectory = arguments.LoraDirectory,
                MemoryMode = parsed.GetValue(extra.MemoryMode),
            };
            string familyFolder = File.Exists(model) ? arguments.ConfigDirectory ?? "" : model;
            using IDiffusionPipeline pipeline = ModelFamilyResolver.FromModelFolder(familyFolder) is { IsFlowMatchingTransformer: true }
                ? FlowMatchingPipeline.Load(model, settings)
                : StableDiffusionPipeline.Load(model, settings);
            ConsoleOutput.Line($"Loaded {pipeline.Family.Name} from {model} in {loadWatch.Elapsed.TotalSeconds:F2} s");
            if (pipeline.MemoryPlan is { Requested: MemoryMode.Auto } plan)
                ConsoleOutput.Line($"Memory: {plan.Explanation}");

            using ControlNet? controlNet = LoadControlNet(pipeline, session);
            options = WithControlNet(options, controlNet);
            IScheduler? scheduler = arguments.Scheduler is null ? null : SchedulerCatalog.Create(arguments.Scheduler, pipeline.Scheduler.Config);
            options = options with { Scheduler = scheduler };
            ConsoleOutput.Line($"Scheduler {(scheduler ?? pipeline.Scheduler).GetType().Name}, seed {arguments.Seed}, random source {options.RandomSource}");

            using VaeDecoder? previewDecoder = LoadPreviewDecoder(pipeline, session);
            PreviewWriter? previews = parsed.GetValue(extra.Preview) is { } previewFolder
                ? new PreviewWriter(previewFolder, parsed.GetValue(extra.PreviewEvery), options, previewDecoder)
                : null;
            GenerationResult result = StepProgress.Run(pipeline, options, previews, ct);
            ConsoleOutput.Line($"Seed {result.Seed}; {result.DenoisingSteps} denoising steps; {result.Timings}");
            if (result.VaeDecodeTiled)
                ConsoleOutput.Line("Memory: the VAE decode ran in tiles (a whole decode would not have fit in the memory available).");
            foreach (var report in result.LoraReports)
                ConsoleOutput.Line($"LoRA: {report}");
            if (result.PromptTruncated)
                ConsoleOutput.Warning("the prompt was longer than the text encoder reads and was cut (--weighted takes any length).");

            WriteImages(pipeline, options, result, model);
            return 0;
        }
        catch (InvalidOptionException ex)
        {
            return BadOption(ex, 1);
        }
        catch (OperationCanceledException)
        {
            return ConsoleOutput.Error("cancelled.");
        }
        catch (Exception ex) when (ex is DiffusionException or ModelDownloadException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            return ConsoleOutput.Error(ex.Message);
        }
    }

    private void WriteImages(IDiffusionPipeline pipeline, GenerationOptions options, GenerationResult result, string model)
    {
        string? modelHash = null;
        IReadOnlyList<(string, string)> loraHashes = [];
        var hashes = new ModelHashes(ModelDownloaderOptions.FromEnvironment().DownloadCache);
        if (writeSettings)
        {
            modelHash = hashes.ModelHash(model);
            loraHashes = [.. arguments.Loras.Select(l => (Path.GetFileNameWithoutExtension(l.Path), hashes.LoraHash(l.Path)))];
        }
        string modelName = File.Exists(model) ? Path.GetFileNameWithoutExtension(model) : new DirectoryInfo(model).Name;
        for (int i = 0; i < result.Images.Count; i++)
        {
            if (batchPosition is int keep && keep != i)
                continue;
            string path = result.Images.Count == 1 || batchPosition is not null ? arguments.Output : NumberedPath(arguments.Output, i);
            IEnumerable<KeyValuePair<string, string>>? text = null;
            if (writeSettings && path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            {
                GenerationParameters settings = ImageSettings.Describe(arguments, options, pipeline, result, i, modelName, modelHash, loraHashes);
                text = [new("parameters", settings.Format())];
            }
            SkiaImageCodec.Save(result.Images[i], path, pngText: text);
            ConsoleOutput.Line($"Wrote {path} ({result.Images[i].Width}x{result.Images[i].Height})");
        }
    }

    private GenerationOptions WithInputs(GenerationOptions options)
    {
        if (arguments.Mask is not null && arguments.Image is null)
            throw new InvalidOptionException("--mask", "inpainting needs the image to repaint: give it with --image.");
        if (arguments.Image is null)
        {
            if (arguments.Strength is not null)
                throw new InvalidOptionException("--strength", "--strength applies to image-to-image and inpainting: give the starting image with --image.");
            return options;
        }
        ImageBuffer image = SkiaImageCodec.Load(arguments.Image);
        options = options with { InitImage = image, Strength = arguments.Strength };
        if (arguments.Mask is null)
            return options;
        return options with
        {
            Mask = SkiaImageCodec.Load(arguments.Mask),
            PreserveUnmaskedPixels = arguments.PreserveUnmasked,
            MaskBlur = arguments.MaskBlur,
            Width = options.Width ?? image.Width - image.Width % 8,
            Height = options.Height ?? image.Height - image.Height % 8,
        };
    }

    private VaeDecoder? LoadPreviewDecoder(IDiffusionPipeline pipeline, SessionSettings session)
    {
        string? folder = parsed.GetValue(extra.Preview);
        string? vae = parsed.GetValue(extra.PreviewVae);
        if (folder is null)
            return null;
        if (pipeline.Family != ModelFamily.StableDiffusion)
            throw new InvalidOptionException("--preview", $"previews exist for Stable Diffusion 1.x/2.x latents; this model is {pipeline.Family.Name}.");
        if (vae is null)
            return null;
        string path = Directory.Exists(vae)
            ? File.Exists(Path.Combine(vae, "model.onnx")) ? Path.Combine(vae, "model.onnx") : Path.Combine(vae, "vae_decoder", "model.onnx")
            : vae;
        VaeDecoder decoder = VaeDecoder.Load(path, session);
        if (decoder.LatentChannels != 4)
        {
            decoder.Dispose();
            throw new InvalidOptionException("--preview-vae", $"{path} decodes {decoder.LatentChannels}-channel latents; SD 1.x/2.x previews need a 4-channel decoder such as TAESD.");
        }
        return decoder;
    }

    private ControlNet? LoadControlNet(IDiffusionPipeline pipeline, SessionSettings session)
    {
        string? path = parsed.GetValue(extra.ControlNet);
        if (parsed.GetValue(extra.ControlImage) is null)
        {
            if (path is not null)
                throw new InvalidOptionException("--control-image", "--controlnet needs the image that steers it: give it with --control-image.");
            return null;
        }
        if (pipeline is not StableDiffusionPipeline sd || (!sd.UNet.IsFusedControlNet && !sd.UNet.AcceptsControlNetResiduals))
            throw new InvalidOptionException("--control-image", $"{pipeline.Family.Name}: this model's denoiser takes no ControlNet input; ControlNet needs a UNet exported for it (docs/controlnet.md).");
        if (sd.UNet.IsFusedControlNet)
        {
            if (path is not null)
                throw new InvalidOptionException("--controlnet", "the UNet has its ControlNet fused in; leave --controlnet out.");
            return null;
        }
        if (path is null)
            throw new InvalidOptionException("--controlnet", "the UNet takes ControlNet residuals: give the ControlNet with --controlnet.");
        return ControlNet.Load(Directory.Exists(path) ? Path.Combine(path, "model.onnx") : path, session);
    }

    private GenerationOptions WithControlNet(GenerationOptions options, ControlNet? controlNet)
    {
        if (parsed.GetValue(extra.ControlImage) is not { } controlImagePath)
            return options;
        ImageBuffer control = SkiaImageCodec.Load(controlImagePath);
        if (parsed.GetValue(extra.Canny))
            control = CannyEdgeDetector.Detect(control, 100, 200);
        var unit = new ControlNetUnit
        {
            Model = controlNet,
            FusedIndex = controlNet is null ? 0 : null,
            Image = control,
            ConditioningScale = parsed.GetValue(extra.ControlScale),
            Resize = ControlNetImageResize.Cover,
        };
        return options with { ControlNets = [unit] };
    }

    private static int BadOption(InvalidOptionException ex, int exitCode)
    {
        string hint = ex.OptionName is { } name && GenerationCommandLine.CommandLineName(name) is { } option ? $" (command line: {option})" : "";
        Console.Error.WriteLine($"error: {ex.Message}{hint}");
        return exitCode;
    }

    private static string NumberedPath(string path, int index) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}-{index}{Path.GetExtension(path)}");
}
