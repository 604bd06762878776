namespace Diffusion.Core.Weights;

/// <summary>One node of an ONNX graph as far as weight mapping needs it.</summary>
internal sealed class OnnxNode
{
    public OnnxNode(string name, string opType, string[] inputs, string[] outputs, long? transB)
    {
        Name = name;
        OpType = opType;
        Inputs = inputs;
        Outputs = outputs;
        TransB = transB;
    }

    /// <summary>The node name; torch's exporter writes the module's call path plus the op, e.g. <c>/down_blocks.0/attentions.0/proj_in/Conv</c>.</summary>
    public string Name { get; }

    public string OpType { get; }

    public string[] Inputs { get; }

    public string[] Outputs { get; }

    /// <summary>The <c>transB</c> attribute of a Gemm, when present.</summary>
    public long? TransB { get; }
}
