using System.CommandLine;
using Diffusion.CommandLine;
using Diffusion.Core;
using Diffusion.Core.Execution;
using Diffusion.Core.Metadata;
using Diffusion.Core.Pipelines;
using Diffusion.Hub;
using Diffusion.Imaging.Skia;

namespace Diffusion.Cli;

/// <summary>
/// <c>diffusion generate</c>: text-to-image, image-to-image (<c>--image</c>), inpainting (<c>--mask</c>) and ControlNet
/// with any model the library loads (the built-in demo model by default; <c>--model hf:…</c> downloads one first).
/// Every option is checked before the model loads; each PNG carries its settings, and <c>--from</c> reads them back.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var defaults = new GenerationArguments
        {
            Model = DemoModel.Path,
            Prompt = "a large red circle on a blue background, center",
        };
        var common = new GenerationCommandLine(defaults, imageInputs: true, maskInputs: true);
        common.Model.Description = "model: a diffusers folder (ONNX or safetensors), a single-file checkpoint, or a download " +
            "(hf:owner/name[@revision][:subfolder], civitai:VERSION_ID, https://…); default: the built-in demo model";
        var extra = new GenerateOptions();
        var command = new Command("generate", "Generate images: text-to-image, image-to-image (--image), inpainting (--mask), ControlNet (--control-image).");
        common.AddTo(command);
        extra.AddTo(command);
        command.SetAction((parsed, ct) => Task.FromResult(Run(parsed, common, extra, ct)));
        return command;
    }

    private static int Run(ParseResult parsed, GenerationCommandLine common, GenerateOptions extra, CancellationToken ct)
    {
        GenerationArguments arguments = common.Bind(parsed);
        int? batchPosition = null;
        try
        {
            if (parsed.GetValue(extra.From) is { } fromPng)
            {
                var warnings = new List<string>();
                (arguments, batchPosition) = ImageSettings.Apply(ReadSettings(fromPng), arguments,
                    name => parsed.GetResult(common.Options.Concat(new Option[] { extra.From }).First(o => o.Name == name)) is { Implicit: false }, warnings);
                warnings.ForEach(ConsoleOutput.Warning);
            }
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOptionException or ImageFormatException or IOException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return CommandLineRunner.BadCommandLine;
        }
        if (OutputPath.Check(arguments.Output) is string outputError)
        {
            Console.Error.WriteLine($"error: {outputError}");
            return CommandLineRunner.BadCommandLine;
        }
        bool writeSettings = !parsed.GetValue(extra.NoMetadata);
        if (writeSettings && !arguments.Output.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            ConsoleOutput.Warning($"{arguments.Output}: the settings are written into PNG files only; this image will not carry them.");

        var generation = new GenerationRun(arguments, extra, parsed, batchPosition, writeSettings);
        return generation.Execute(ct);
    }

    private static GenerationParameters ReadSettings(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new ArgumentException($"--from {path}: no such file.");
        if (info.Length > 256L << 20)
            throw new ArgumentException($"--from {path}: {info.Length} bytes is too large for an image with settings.");
        string text = PngTextChunk.Read(File.ReadAllBytes(path), "parameters")
            ?? throw new ArgumentException($"--from {path}: the PNG has no 'parameters' text (it was not saved with its settings).");
        return GenerationParameters.Parse(text);
    }
}
