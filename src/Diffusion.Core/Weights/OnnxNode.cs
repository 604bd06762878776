namespace Diffusion.Core.Weights;

/// <summary>One node of an ONNX graph as far as weight mapping needs it.</summary>
internal sealed class OnnxNode
{
    public OnnxNode(string name, string opType, string[] inputs, string[] outputs, long? transB, float? epsilon = null, long? axis = null)
    {
        Name = name;
        OpType = opType;
        Inputs = inputs;
        Outputs = outputs;
        TransB = transB;
        Epsilon = epsilon;
        Axis = axis;
    }

    /// <summary>The node name; torch's exporter writes the module's call path plus the op, e.g. <c>/down_blocks.0/attentions.0/proj_in/Conv</c>.</summary>
    public string Name { get; }

    public string OpType { get; }

    public string[] Inputs { get; }

    public string[] Outputs { get; }

    /// <summary>The <c>transB</c> attribute of a Gemm, when present.</summary>
    public long? TransB { get; }

    /// <summary>The <c>epsilon</c> attribute of a LayerNormalization, when present (ONNX's default is 1e-5).</summary>
    public float? Epsilon { get; }

    /// <summary>The <c>axis</c> attribute (e.g. of a LayerNormalization, Gather or Concat), when present.</summary>
    public long? Axis { get; }
}
