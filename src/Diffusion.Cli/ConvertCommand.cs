using System.CommandLine;
using System.Diagnostics;
using Diffusion.Core;
using Diffusion.Core.Graphs;
using Diffusion.Core.Pipelines;

namespace Diffusion.Cli;

/// <summary><c>diffusion convert CHECKPOINT OUT</c>: a safetensors checkpoint (or folder) to a diffusers ONNX folder, graphs built in C#.</summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "a single-file .safetensors checkpoint (SD 1.x/2.x/XL) or a diffusers safetensors folder" };
        var output = new Argument<string>("OUT") { Description = "the ONNX folder to create (must not exist)" };
        var config = new Option<string?>("--config") { Description = "for a single file: a diffusers-layout folder with tokenizer/ (and tokenizer_2/) and optionally scheduler/" };
        var vae = new Option<string?>("--vae") { Description = "for a single file: a separate VAE .safetensors replacing the embedded one" };
        var command = new Command("convert", "Convert a safetensors checkpoint into a diffusers ONNX folder (no Python).") { checkpoint, output, config, vae };
        command.SetAction(parsed => Run(parsed.GetValue(checkpoint)!, parsed.GetValue(output)!, parsed.GetValue(config), parsed.GetValue(vae)));
        return command;
    }

    private static int Run(string checkpoint, string output, string? config, string? vae)
    {
        try
        {
            var watch = Stopwatch.StartNew();
            OnnxFolderExport.Export(checkpoint, output, new PipelineSettings { ConfigDirectory = config, VaePath = vae });
            ConsoleOutput.Line($"Wrote {output} in {watch.Elapsed.TotalSeconds:F1} s");
            return 0;
        }
        catch (InvalidOptionException ex)
        {
            return ConsoleOutput.Error(ex.Message);
        }
        catch (Exception ex) when (ex is DiffusionException or IOException or UnauthorizedAccessException)
        {
            return ConsoleOutput.Error(ex.Message);
        }
    }
}
