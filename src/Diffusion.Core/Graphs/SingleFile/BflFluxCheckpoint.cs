using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// A FLUX.1 transformer from a single Black Forest Labs–layout <c>.safetensors</c> file (what model sites publish as
/// <c>flux1-dev.safetensors</c>; ComfyUI's copies add <c>model.diffusion_model.</c>): the layout is recognised by its keys,
/// the shape read from its tensors (block counts, widths, guidance embedder), and the graph built over the file's own
/// tensors through <see cref="BflFluxNames"/>.
/// </summary>
internal static class BflFluxCheckpoint
{
    private static readonly string[] s_prefixes = ["", "model.diffusion_model."];

    /// <summary>True when <paramref name="file"/> holds a BFL FLUX transformer.</summary>
    public static bool IsBflFlux(SafeTensorsWeightSource file) => Prefix(file) is not null;

    /// <summary>Builds the transformer in <paramref name="path"/>; <paramref name="config"/> overrides the shape read from the tensors.</summary>
    /// <exception cref="WeightFileException">The file is not a BFL FLUX transformer, or a tensor is missing or misshaped (named).</exception>
    /// <exception cref="ModelLoadException">The head width is not FLUX.1's 128 and no config gives the RoPE axes.</exception>
    public static BuiltModel Build(string path, FluxTransformerConfig? config = null)
    {
        using var file = new SafeTensorsWeightSource([path]);
        string prefix = Prefix(file)
            ?? throw new WeightFileException(path, BflFluxNames.Marker, "missing: not a Black Forest Labs FLUX transformer (no double_blocks.0.img_attn.qkv.weight).");
        config ??= ConfigFromShapes(file, prefix, path);
        var weights = new MappedWeightSource(file, "transformer", name => BflFluxNames.Map(name, prefix, config.InnerDim));
        return FluxTransformerGraph.Build(config, weights, normOutShiftFirst: true);
    }

    private static string? Prefix(SafeTensorsWeightSource file) => KeyPrefix.Find(file, BflFluxNames.Marker, s_prefixes);

    /// <summary>The architecture the tensors imply: widths from the embedders, block counts by key, heads from the norms' width.</summary>
    private static FluxTransformerConfig ConfigFromShapes(SafeTensorsWeightSource file, string prefix, string path)
    {
        long[] Shape(string key) => file.Find(prefix + key, [])?.Shape
            ?? throw new WeightFileException(path, prefix + key, "missing: a FLUX transformer has it.");
        long[] image = Shape("img_in.weight");
        int inner = checked((int)image[0]);
        int headDim = checked((int)Shape("double_blocks.0.img_attn.norm.query_norm.scale")[0]);
        if (headDim == 0 || inner % headDim != 0)
            throw new WeightFileException(path, prefix + "double_blocks.0.img_attn.norm.query_norm.scale", $"gives a head width of {headDim}, which does not divide the block width {inner}.");
        if (headDim != 128)
            throw new ModelLoadException(path, $"its heads are {headDim} wide; the RoPE axes are known for FLUX.1's 128 only (give the transformer's config).");
        int Count(string block)
        {
            int n = 0;
            while (file.Contains($"{prefix}{block}.{n}.norm.query_norm.scale") || file.Contains($"{prefix}{block}.{n}.img_attn.norm.query_norm.scale"))
                n++;
            return n;
        }
        int outChannels = checked((int)Shape("final_layer.linear.weight")[0]);
        return new FluxTransformerConfig(1, checked((int)image[1]), outChannels, Count("double_blocks"), Count("single_blocks"), headDim, inner / headDim,
            checked((int)Shape("txt_in.weight")[1]), checked((int)Shape("vector_in.in_layer.weight")[1]), file.Contains(prefix + "guidance_in.in_layer.weight"),
            FluxTransformerConfig.Dev.AxesDimsRope);
    }
}
