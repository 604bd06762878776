namespace Diffusion.Core.Graphs;

/// <summary>A tensor in a graph being built: the name of a graph input, an initializer or a node's output.</summary>
internal readonly record struct GraphValue(string Name)
{
    public override string ToString() => Name;
}
