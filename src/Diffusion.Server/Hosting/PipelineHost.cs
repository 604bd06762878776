using Diffusion.Core.Execution;
using Diffusion.Core.Families;
using Diffusion.Core.Pipelines;
using Microsoft.Extensions.Options;

namespace Diffusion.Server.Hosting;

/// <summary>The loaded pipeline the worker runs (one per server process and device), loaded when the server starts.</summary>
internal sealed class PipelineHost : IModelInfo, IDisposable
{
    public PipelineHost(IOptions<ServerOptions> options)
    {
        ServerOptions o = options.Value;
        var settings = new PipelineSettings
        {
            Session = new SessionSettings { Provider = ExecutionProvider.Parse(o.Provider), IntraOpThreads = o.Threads, OptimizedModelCache = o.OptimizedModelCache },
            ConfigDirectory = o.ConfigDirectory,
            LoraDirectory = o.LoraDirectory,
        };
        string familyFolder = File.Exists(o.Model) ? o.ConfigDirectory ?? "" : o.Model;
        Pipeline = ModelFamilyResolver.FromModelFolder(familyFolder) is { IsFlowMatchingTransformer: true }
            ? FlowMatchingPipeline.Load(o.Model, settings)
            : StableDiffusionPipeline.Load(o.Model, settings);
        ModelName = File.Exists(o.Model) ? Path.GetFileNameWithoutExtension(o.Model) : new DirectoryInfo(o.Model).Name;
    }

    public IDiffusionPipeline Pipeline { get; }

    public bool IsFlowMatching => Pipeline.Family.IsFlowMatchingTransformer;

    /// <summary>The name clients see (A1111's sd-models title, OpenAI's model id).</summary>
    public string ModelName { get; }

    public void Dispose() => Pipeline.Dispose();
}
