using Diffusion.Core.Graphs.Proto;
using Google.Protobuf;

namespace Diffusion.Core.Graphs;

/// <summary>
/// The two graphs DeepCache-style step caching runs (Ma et al., "DeepCache: Accelerating Diffusion Models for Free"): on
/// a full step the whole UNet, also returning the feature that enters one of its up-block layers; on the cached steps in
/// between, only the part of the UNet that feature is not needed to compute is skipped — the graph that recomputes the
/// output from the cached feature and the shallow layers (the skip connections it still needs, the time embedding).
/// Both come from the one UNet graph by cutting it at a value it names as a cache point, so no architecture code is
/// written twice and every provider runs them as plain ONNX.
/// </summary>
/// <remarks>
/// A UNet graph declares its cache points in <c>metadata_props</c> (<see cref="PointsKey"/>): graphs the library builds
/// from a checkpoint do, and so does the built-in demo model; an exported graph names no points (its value names are the
/// exporter's) and cannot be cut. Point 0 is nearest the output (the cached step runs the least); each further point is
/// one up-block layer deeper (the cached step recomputes more, closer to the full result).
/// </remarks>
internal static class DeepCacheGraphs
{
    /// <summary>The <c>ModelProto.metadata_props</c> key: value names, nearest the output first, comma-separated.</summary>
    public const string PointsKey = "diffusion_core.deep_cache_points";

    /// <summary>The full graph's extra output and the cached graph's extra input.</summary>
    public const string FeatureName = "deep_cache_feature";

    /// <summary>Records the cut points (nearest the output first) in a built graph's metadata.</summary>
    public static void Record(OnnxGraphBuilder graph, IEnumerable<GraphValue> pointsNearestOutputFirst)
        => graph.SetMetadata(PointsKey, string.Join(',', pointsNearestOutputFirst.Select(p => p.Name)));

    /// <summary>The cut points a model's metadata declares (empty when it declares none).</summary>
    public static string[] Points(ModelProto model)
    {
        string? value = model.MetadataProps.FirstOrDefault(p => p.Key == PointsKey)?.Value;
        return value is null ? [] : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>
    /// The full graph (the model with <see cref="FeatureName"/> also an output) and the cached graph (the model's outputs
    /// computed from <see cref="FeatureName"/> as an input in place of the value at cut point <paramref name="point"/>).
    /// </summary>
    /// <param name="model">The UNet graph; not changed.</param>
    /// <param name="description">What messages name the model by.</param>
    /// <param name="point">The cut point's index in <see cref="Points"/>.</param>
    /// <param name="sampleInput">The UNet's latent input (as its wrapper found it): the feature computes in its precision.</param>
    /// <exception cref="ModelContractException">The model declares no points, fewer than <paramref name="point"/> + 1, or a
    /// point that is not a value on the path to its outputs.</exception>
    public static (byte[] Full, byte[] Cached) Split(ModelProto model, string description, int point, string sampleInput)
    {
        string[] points = Points(model);
        if (points.Length == 0)
            throw NoPoints(description);
        if (point < 0 || point >= points.Length)
            throw new ModelContractException(description, PointsKey, $"cache point {point} asked for; the graph declares {points.Length} (0 … {points.Length - 1}).");
        string cut = points[point];

        GraphProto graph = model.Graph;
        NodeProto producer = graph.Node.FirstOrDefault(n => n.Output.Contains(cut))
            ?? throw new ModelContractException(description, PointsKey, $"cache point '{cut}' is not the output of any node of the graph.");
        TypeProto featureType = FeatureType(graph, description, sampleInput);

        // The cached graph: the nodes the outputs need, walking back from them and stopping at the cut.
        var needed = new HashSet<string>(graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        var kept = new bool[graph.Node.Count];
        bool cutReached = false;
        for (int i = graph.Node.Count - 1; i >= 0; i--)
        {
            NodeProto node = graph.Node[i];
            if (!node.Output.Any(needed.Contains))
                continue;
            if (node.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))
                throw new ModelContractException(description, node.Name, "the graph has a control-flow node on the cached path; step caching cuts only flat graphs.");
            if (ReferenceEquals(node, producer))
            {
                if (node.Output.Any(o => o != cut && needed.Contains(o)))
                    throw new ModelContractException(description, node.Name, $"cache point '{cut}' comes from a node whose other outputs the cached path also needs.");
                cutReached = true;
                continue;
            }
            kept[i] = true;
            foreach (string input in node.Input)
            {
                if (input.Length > 0)
                    needed.Add(input);
            }
        }
        if (!cutReached)
            throw new ModelContractException(description, PointsKey, $"cache point '{cut}' is not on the path to the graph's outputs.");

        ModelProto cached = model.Clone();
        GraphProto cachedGraph = cached.Graph;
        cachedGraph.Node.Clear();
        for (int i = 0; i < graph.Node.Count; i++)
        {
            if (!kept[i])
                continue;
            NodeProto node = graph.Node[i].Clone();
            for (int j = 0; j < node.Input.Count; j++)
            {
                if (node.Input[j] == cut)
                    node.Input[j] = FeatureName;
            }
            cachedGraph.Node.Add(node);
        }
        // Every original input stays (a caller binds the same inputs to both graphs); the skipped layers' weights go.
        var used = new HashSet<string>(cachedGraph.Node.SelectMany(n => n.Input), StringComparer.Ordinal);
        var inputs = new HashSet<string>(graph.Input.Select(i => i.Name), StringComparer.Ordinal);
        var initializers = cachedGraph.Initializer.Where(t => used.Contains(t.Name) || inputs.Contains(t.Name)).ToList();
        cachedGraph.Initializer.Clear();
        cachedGraph.Initializer.AddRange(initializers);
        cachedGraph.Input.Add(new ValueInfoProto { Name = FeatureName, Type = featureType });
        cachedGraph.ValueInfo.Clear();

        ModelProto full = model.Clone();
        full.Graph.Node.Add(new NodeProto { OpType = "Identity", Name = "/deep_cache/Identity", Input = { cut }, Output = { FeatureName } });
        full.Graph.Output.Add(new ValueInfoProto { Name = FeatureName, Type = featureType.Clone() });
        return (full.ToByteArray(), cached.ToByteArray());
    }

    /// <summary>The error for a UNet graph that declares no cut points (an exported one).</summary>
    public static ModelContractException NoPoints(string description) => new(description, PointsKey,
        "the UNet graph declares no step-cache points, so it cannot be cut into the full and the cached step. Step caching works on "
        + "UNets this library builds from a checkpoint (.safetensors, single file or diffusers folder) and on the built-in demo model; "
        + "an exported ONNX UNet's internal values are the exporter's and are not known.");

    // The feature is [batch, channels, height, width] in the precision the UNet computes in, that of its sample input.
    private static TypeProto FeatureType(GraphProto graph, string description, string sampleInput)
    {
        ValueInfoProto sample = graph.Input.FirstOrDefault(i => i.Name == sampleInput)
            ?? throw new ModelContractException(description, sampleInput, $"the UNet graph has no '{sampleInput}' input to take the feature's element type from.");
        var shape = new TensorShapeProto();
        foreach (string axis in new[] { "batch", "feature_channels", "feature_height", "feature_width" })
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "deep_cache_" + axis });
        return new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = sample.Type.TensorType.ElemType, Shape = shape } };
    }
}
