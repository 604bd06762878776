using Diffusion.Core.Graphs.Proto;
using Google.Protobuf;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Makes the float16/bfloat16 weights a session overrides (LoRA, textual inversion) overridable in a built graph.
/// Such a weight sits behind a <c>Cast</c> to float32, and ONNX Runtime's constant folding folds that Cast with the
/// file's values before <c>SessionOptions.AddInitializer</c> takes effect (measured: a textual-inversion token then
/// falls outside the unreplaced embedding table). Listing the weight also as a graph input marks it overridable (ONNX
/// IR ≥ 4), so the Cast stays and converts the replacement; every other weight's Cast still folds once.
/// </summary>
internal static class OverridableWeights
{
    /// <summary>
    /// The graph with each of <paramref name="overridden"/> that feeds a Cast also declared a graph input; the same bytes
    /// when none does.
    /// </summary>
    public static byte[] Expose(byte[] graphBytes, IEnumerable<string> overridden)
    {
        ModelProto model = ModelProto.Parser.ParseFrom(graphBytes);
        GraphProto graph = model.Graph;
        var castInputs = new HashSet<string>(graph.Node.Where(n => n.OpType == "Cast" && n.Input.Count == 1).Select(n => n.Input[0]), StringComparer.Ordinal);
        var inputs = new HashSet<string>(graph.Input.Select(i => i.Name), StringComparer.Ordinal);
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        bool changed = false;
        foreach (string name in overridden)
        {
            if (!castInputs.Contains(name) || inputs.Contains(name) || !initializers.TryGetValue(name, out TensorProto? tensor))
                continue;
            var shape = new TensorShapeProto();
            foreach (long dimension in tensor.Dims)
                shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dimension });
            graph.Input.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = tensor.DataType, Shape = shape } },
            });
            changed = true;
        }
        return changed ? model.ToByteArray() : graphBytes;
    }
}
