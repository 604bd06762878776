namespace Diffusion.Core.Graphs;

/// <summary>Where a graph's weights come from: checkpoint files, or (to count parameters) nothing but the shapes asked for.</summary>
internal interface IWeightSource
{
    /// <summary>The file or folder, for messages.</summary>
    string Description { get; }

    /// <summary>The stored tensor <paramref name="name"/>, or <see langword="null"/> when the source has none.</summary>
    /// <param name="name">The tensor's name in the architecture's (diffusers / transformers) layout.</param>
    /// <param name="expectedShape">The shape the architecture expects (a shape-only source answers with it); empty for a probe (a layer count, a naming check), which does not count as a use.</param>
    WeightReference? Find(string name, long[] expectedShape);
}
