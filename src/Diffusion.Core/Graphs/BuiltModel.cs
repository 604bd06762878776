namespace Diffusion.Core.Graphs;

/// <summary>
/// A model built by the graph builder: the serialized ONNX graph (weights excluded) and the folder its external weights
/// are read from, ready for an ONNX Runtime session.
/// </summary>
/// <param name="Name">What it is, for messages (<c>text_encoder from …/model.safetensors</c>).</param>
/// <param name="Graph">The serialized <c>ModelProto</c>.</param>
/// <param name="ExternalDataFolder">The folder holding the weight files the graph points into; null when it has none.</param>
/// <param name="ParameterCount">Parameters in the weights it references.</param>
internal sealed record BuiltModel(string Name, byte[] Graph, string? ExternalDataFolder, long ParameterCount)
{
    /// <summary>The source a session is created from.</summary>
    public Models.ModelSource ToSource() => Models.ModelSource.FromGraph(Name, Graph, ExternalDataFolder, ParameterCount * sizeof(float));
}
