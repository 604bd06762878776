using Diffusion.Core.Graphs.SingleFile;

namespace Diffusion.Core.Adapters;

/// <summary>
/// FLUX.1 LoRA modules named after Black Forest Labs' checkpoint layers (kohya's <c>lora_unet_double_blocks_0_img_attn_qkv</c>,
/// ComfyUI's <c>diffusion_model.double_blocks.0.img_attn.qkv</c>), resolved to the diffusers layers of a FLUX.1 graph with the
/// rows of the up factor each one takes: a double block's <c>qkv</c> feeds <c>to_q</c>, <c>to_k</c>, <c>to_v</c> (a third
/// each), a single block's <c>linear1</c> feeds q, k, v and <c>proj_mlp</c>, and <c>final_layer.adaLN_modulation.1</c> is
/// (shift, scale) where diffusers' <c>norm_out.linear</c> is (scale, shift).
/// </summary>
/// <remarks>
/// The mapping is <see cref="BflFluxNames"/>' (the one single-file loading uses) run backwards over the layers this graph
/// has, so the two cannot disagree. diffusers' <c>_convert_kohya_flux_lora_to_diffusers</c> splits these files the same
/// way (it copies the down factor to each part and splits the up factor's rows, or splits the rank when the up factor is
/// block-diagonal; both give the same merged weights).
/// </remarks>
internal sealed class FluxLoraModules
{
    private static readonly string[] s_checkpointLayers =
        ["double_blocks", "single_blocks", "final_layer", "img_in", "txt_in", "time_in", "vector_in", "guidance_in"];

    private readonly Dictionary<string, List<LoraUpdateTarget>> _dotted = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<LoraUpdateTarget>> _underscored = new(StringComparer.Ordinal);

    private FluxLoraModules()
    {
    }

    /// <summary>True when <paramref name="module"/> is a Black Forest Labs FLUX.1 layer name (dotted or kohya-underscored).</summary>
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

    /// <summary>The checkpoint layers of the FLUX.1 graph <paramref name="index"/> describes; empty for any other graph.</summary>
    public static FluxLoraModules Build(ModuleWeightIndex index)
    {
        var modules = new FluxLoraModules();
        if (!index.TryFind("x_embedder", dotted: true, out ModuleWeight? embedder, out _))
            return modules;
        long innerDim = embedder!.OutFeatures;
        foreach ((string path, ModuleWeight weight) in index.Modules)
        {
            if (BflFluxNames.Map(path + ".weight", string.Empty, innerDim) is not CheckpointTensor tensor
                || !tensor.Name.EndsWith(".weight", StringComparison.Ordinal))
                continue;
            string layer = tensor.Name[..^".weight".Length];
            (long first, long count) = tensor.Parts > 1 ? (tensor.Part * weight.OutFeatures, weight.OutFeatures)
                : tensor.RowCount > 0 ? (tensor.FirstRow, tensor.RowCount)
                : (0, weight.OutFeatures);
            modules.Add(layer, new LoraUpdateTarget(weight, first, count, layer == BflFluxNames.ShiftFirstModulation));
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
