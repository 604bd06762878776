namespace Diffusion.Server.Hosting;

/// <summary>What the APIs say about the model: its name, and whether it is a flow-matching one (its sampler names differ).</summary>
internal interface IModelInfo
{
    string ModelName { get; }

    bool IsFlowMatching { get; }
}
