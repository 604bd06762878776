using Diffusion.Core.Families;
using Microsoft.Extensions.Options;

namespace Diffusion.Server.Hosting;

/// <summary>A front end's view of the model its workers run, read from the configured path without loading it.</summary>
internal sealed class ConfiguredModelInfo(IOptions<ServerOptions> options) : IModelInfo
{
    public string ModelName { get; } = File.Exists(options.Value.Model)
        ? Path.GetFileNameWithoutExtension(options.Value.Model)
        : new DirectoryInfo(options.Value.Model).Name;

    public bool IsFlowMatching { get; } = Directory.Exists(options.Value.Model)
        && ModelFamilyResolver.FromModelFolder(options.Value.Model) is { IsFlowMatchingTransformer: true };
}
