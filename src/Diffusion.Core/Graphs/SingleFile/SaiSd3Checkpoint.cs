using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// An SD3 / SD3.5 transformer from a Stability AI single <c>.safetensors</c> file (MMDiT keys, usually under
/// <c>model.diffusion_model.</c>): the architecture is read from the tensors (width, depth, heads at 64 wide or from the
/// QK norms, caption and pooled widths, the position table's size, which layers have a second attention) and the graph is
/// built over the file's own tensors through <see cref="SaiSd3Names"/>.
/// </summary>
internal static class SaiSd3Checkpoint
{
    private static readonly string[] s_prefixes = ["model.diffusion_model.", ""];

    /// <summary>True when <paramref name="file"/> holds an SAI SD3 transformer.</summary>
    public static bool IsSaiSd3(SafeTensorsWeightSource file) => Prefix(file) is not null;

    /// <summary>Builds the transformer in <paramref name="path"/>; <paramref name="config"/> overrides the shape read from the tensors.</summary>
    /// <exception cref="WeightFileException">The file is not an SAI SD3 transformer, or a tensor is missing or misshaped (named).</exception>
    public static BuiltModel Build(string path, Sd3TransformerConfig? config = null)
    {
        using var file = new SafeTensorsWeightSource([path]);
        string prefix = Prefix(file)
            ?? throw new WeightFileException(path, SaiSd3Names.Marker, "missing: not a Stability AI SD3 transformer (no joint_blocks.0.x_block.attn.qkv.weight).");
        config ??= ConfigFromShapes(file, prefix, path);
        var weights = new MappedWeightSource(file, "transformer", name => SaiSd3Names.Map(name, prefix));
        return Sd3TransformerGraph.Build(config, weights, continuousNormsShiftFirst: true);
    }

    private static string? Prefix(SafeTensorsWeightSource file) => KeyPrefix.Find(file, SaiSd3Names.Marker, s_prefixes);

    /// <summary>The architecture the tensors imply (heads 64 wide unless QK norms give their width, as in every SD3 release).</summary>
    internal static Sd3TransformerConfig ConfigFromShapes(SafeTensorsWeightSource file, string prefix, string path)
    {
        long[] Shape(string key) => file.Find(prefix + key, [])?.Shape
            ?? throw new WeightFileException(path, prefix + key, "missing: an SD3 transformer has it.");
        long[] patchConv = Shape("x_embedder.proj.weight");   // [width, channels, patch, patch]
        long[] context = Shape("context_embedder.weight");     // [caption, joint]
        long[] table = Shape("pos_embed");                     // [1, max², width]
        int width = checked((int)patchConv[0]);
        int patch = checked((int)patchConv[2]);
        int layers = 0;
        while (file.Contains($"{prefix}joint_blocks.{layers}.x_block.attn.qkv.weight"))
            layers++;
        bool qkNorm = file.Contains(prefix + "joint_blocks.0.x_block.attn.ln_q.weight");
        int headDim = qkNorm ? checked((int)Shape("joint_blocks.0.x_block.attn.ln_q.weight")[0]) : 64;
        int maxSize = (int)Math.Round(Math.Sqrt(table[1]));
        if (patchConv.Length != 4 || width % headDim != 0 || (long)maxSize * maxSize != table[1])
            throw new WeightFileException(path, prefix + "pos_embed", $"the patch conv [{string.Join(", ", patchConv)}] and position table [{string.Join(", ", table)}] do not describe an SD3 transformer.");
        int[] dual = Enumerable.Range(0, layers).Where(i => file.Contains($"{prefix}joint_blocks.{i}.x_block.attn2.qkv.weight")).ToArray();
        int outChannels = checked((int)(Shape("final_layer.linear.weight")[0] / (patch * patch)));
        return new Sd3TransformerConfig(128, patch, checked((int)patchConv[1]), layers, headDim, width / headDim, checked((int)context[1]),
            checked((int)context[0]), checked((int)Shape("y_embedder.mlp.0.weight")[1]), outChannels, maxSize, dual, qkNorm);
    }
}
