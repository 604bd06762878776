using Diffusion.Core.Graphs.SingleFile;

namespace Diffusion.Core.Adapters;

/// <summary>
/// LoRA modules named after the original checkpoint's layers, as kohya's trainers and ComfyUI write them for the
/// transformer families — Black Forest Labs' FLUX.1 names (<c>lora_unet_double_blocks_0_img_attn_qkv</c>,
/// <c>diffusion_model.double_blocks.0.img_attn.qkv</c>) and Stability AI's SD3 names (<c>lora_unet_joint_blocks_0_x_block_attn_qkv</c>)
/// — resolved to the diffusers layers of a graph with the rows of the up factor each one takes: a fused <c>qkv</c> feeds
/// <c>to_q</c>, <c>to_k</c>, <c>to_v</c> (a third each), FLUX.1's <c>linear1</c> feeds q, k, v and <c>proj_mlp</c>, and
/// the continuous norms' modulation (<c>final_layer.adaLN_modulation.1</c>; SD3's last context block too) is
/// (shift, scale) where diffusers has (scale, shift).
/// </summary>
/// <remarks>
/// The mapping is the single-file loaders' own (<see cref="BflFluxNames"/>, <see cref="SaiSd3Names"/>) run backwards over
/// the layers this graph has, so the two cannot disagree. diffusers' <c>_convert_kohya_flux_lora_to_diffusers</c> splits
/// FLUX.1 files the same way (it copies the down factor to each part and splits the up factor's rows, or splits the rank
/// when the up factor is block-diagonal; both give the same merged weights); diffusers has no converter for kohya SD3
/// files, which are split here by the same rule.
/// </remarks>
internal sealed class CheckpointLoraModules
{
    private static readonly string[] s_checkpointLayers =
    [
        "double_blocks", "single_blocks", "img_in", "txt_in", "time_in", "vector_in", "guidance_in", // FLUX.1 (BFL)
        "joint_blocks", "x_embedder", "t_embedder", "y_embedder", "context_embedder", "pos_embed", // SD3 (SAI)
        "final_layer", // both
    ];

    private readonly Dictionary<string, List<LoraUpdateTarget>> _dotted = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<LoraUpdateTarget>> _underscored = new(StringComparer.Ordinal);

    private CheckpointLoraModules()
    {
    }

    /// <summary>True when <paramref name="module"/> names a FLUX.1 (BFL) or SD3 (SAI) checkpoint layer (dotted or kohya-underscored).</summary>
    public static bool IsCheckpointName(string module, bool dotted)
    {
        char separator = dotted ? '.' : '_';
        foreach (string layer in s_checkpointLayers)
        {
            if (module.StartsWith(layer, StringComparison.Ordinal) && (module.Length == layer.Length || module[layer.Length] == separator))
                return true;
        }
        return false;
    }

    /// <summary>
    /// The checkpoint layers of the transformer graph <paramref name="index"/> describes: a FLUX.1 graph (it has
    /// <c>x_embedder</c>) in Black Forest Labs' names, an SD3 graph (<c>pos_embed.proj</c>) in Stability AI's; empty for
    /// any other graph.
    /// </summary>
    public static CheckpointLoraModules Build(ModuleWeightIndex index)
    {
        var modules = new CheckpointLoraModules();
        if (index.TryFind("x_embedder", dotted: true, out ModuleWeight? embedder, out _))
        {
            long innerDim = embedder!.OutFeatures;
            modules.AddAll(index, path => BflFluxNames.Map(path + ".weight", string.Empty, innerDim),
                (layer, _) => layer == BflFluxNames.ShiftFirstModulation);
        }
        else if (index.TryFind("pos_embed.proj", dotted: true, out _, out _) && index.TryFind("norm_out.linear", dotted: true, out ModuleWeight? normOut, out _))
        {
            // SD3's continuous norms (the final one, the last block's context norm) have two chunks; the others six or nine.
            long continuousRows = normOut!.OutFeatures;
            modules.AddAll(index, path => SaiSd3Names.Map(path + ".weight", string.Empty),
                (layer, weight) => layer.EndsWith("adaLN_modulation.1", StringComparison.Ordinal) && weight.OutFeatures == continuousRows);
        }
        return modules;
    }

    /// <summary>The diffusers layers behind checkpoint layer <paramref name="module"/>, in row order; false when this graph has none.</summary>
    public bool TryFind(string module, bool dotted, out IReadOnlyList<LoraUpdateTarget> targets)
    {
        bool found = (dotted ? _dotted : _underscored).TryGetValue(module, out List<LoraUpdateTarget>? list);
        targets = list ?? [];
        return found;
    }

    /// <param name="index">The graph's layers.</param>
    /// <param name="map">The checkpoint tensor behind a diffusers layer's weight.</param>
    /// <param name="shiftFirst">Whether the checkpoint stores a layer's rows (shift, scale).</param>
    private void AddAll(ModuleWeightIndex index, Func<string, CheckpointTensor?> map, Func<string, ModuleWeight, bool> shiftFirst)
    {
        foreach ((string path, ModuleWeight weight) in index.Modules)
        {
            if (map(path) is not CheckpointTensor tensor || !tensor.Name.EndsWith(".weight", StringComparison.Ordinal))
                continue;
            string layer = tensor.Name[..^".weight".Length];
            (long first, long count) = tensor.Parts > 1 ? (tensor.Part * weight.OutFeatures, weight.OutFeatures)
                : tensor.RowCount > 0 ? (tensor.FirstRow, tensor.RowCount)
                : (0, weight.OutFeatures);
            Add(layer, new LoraUpdateTarget(weight, first, count, shiftFirst(layer, weight)));
        }
    }

    private void Add(string layer, LoraUpdateTarget target)
    {
        foreach ((Dictionary<string, List<LoraUpdateTarget>> map, string key) in new[] { (_dotted, layer), (_underscored, layer.Replace('.', '_')) })
        {
            if (!map.TryGetValue(key, out List<LoraUpdateTarget>? list))
                map.Add(key, list = []);
            if (list.Exists(t => t.Weight.Initializer.Name == target.Weight.Initializer.Name))
                continue; // the same weight reached by its node's and its initializer's name
            list.Add(target);
            list.Sort((a, b) => a.FirstRow.CompareTo(b.FirstRow));
        }
    }
}
