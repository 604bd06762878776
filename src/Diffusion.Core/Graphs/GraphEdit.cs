using Diffusion.Core.Graphs.Proto;

namespace Diffusion.Core.Graphs;

/// <summary>The node and initializer edits the load-time rewrites (widening, quantisation) end with.</summary>
internal static class GraphEdit
{
    /// <summary>
    /// Puts in each node's place the nodes <paramref name="replace"/> gives for it (none to drop it; new nodes before it
    /// keep the order topological), then drops the initializers named in <paramref name="removedInitializers"/>.
    /// </summary>
    public static void Apply(GraphProto graph, Func<NodeProto, IEnumerable<NodeProto>> replace, IReadOnlySet<string> removedInitializers)
    {
        var nodes = new List<NodeProto>(graph.Node.Count);
        foreach (NodeProto node in graph.Node)
            nodes.AddRange(replace(node));
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        var kept = graph.Initializer.Where(t => !removedInitializers.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(kept);
    }

    /// <summary>Imports ONNX Runtime's <c>com.microsoft</c> operator set (its quantised kernels) when the model does not yet.</summary>
    public static void ImportContribDomain(ModelProto model)
    {
        if (!model.OpsetImport.Any(o => o.Domain == OnnxGraphBuilder.ContribDomain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = OnnxGraphBuilder.ContribDomain, Version = 1 });
    }
}
