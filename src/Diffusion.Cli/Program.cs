using System.CommandLine;
using Diffusion.Cli;
using Diffusion.CommandLine;

// The `diffusion` tool: one root command with a sub-command per job. Parse errors exit 2 before any work runs; a
// library or download error exits 1 with one line naming what to change.
var root = new RootCommand("Local image generation with Stable Diffusion, SDXL, SD3 and FLUX.1 on ONNX Runtime.")
{
    GenerateCommand.Create(),
    ModelsCommand.Create(),
    InfoCommand.Create(),
    ConvertCommand.Create(),
    BenchCommand.Create(),
    ServeCommand.Create(),
};
return CommandLineRunner.Run(root, args);
