namespace Diffusion.Core.Models;

/// <summary>
/// The tensor names ControlNet exports in circulation give the residuals, on both sides: the ControlNet's
/// outputs and the split-form UNet's extra inputs. Index <c>i</c> counts the down-block residuals in
/// diffusers' order (<c>conv_in</c> first, 12 for SD 1.x/2.x, 9 for SDXL).
/// </summary>
/// <remarks>
/// ControlNet outputs: <c>down_block_res_sample_{i}</c> (NVIDIA's TensorRT demo, the OpenVINO notebooks),
/// <c>down_block_res_samples_{i}</c>, <c>down_block_{i}</c>; mid: <c>mid_block_res_sample</c>.
/// UNet inputs: <c>down_block_{i}_additional_residual</c> (Microsoft Olive's SD ControlNet example),
/// <c>down_block_additional_residual_{i}</c>, <c>down_block_additional_residuals_{i}</c>,
/// <c>down_block_res_sample_{i}</c>; mid: <c>mid_block_additional_residual</c>, <c>mid_block_res_sample</c>.
/// </remarks>
internal static class ControlNetResidualNames
{
    public static readonly string[] MidOutputNames = ["mid_block_res_sample", "mid_block_additional_residual"];

    public static readonly string[] MidInputNames = ["mid_block_additional_residual", "mid_block_res_sample"];

    public static string[] DownOutputCandidates(int index) =>
        [$"down_block_res_sample_{index}", $"down_block_res_samples_{index}", $"down_block_{index}", $"down_block_additional_residual_{index}"];

    public static string[] DownInputCandidates(int index) =>
        [$"down_block_{index}_additional_residual", $"down_block_additional_residual_{index}",
         $"down_block_additional_residuals_{index}", $"down_block_res_sample_{index}"];

    /// <summary>The specs named by the candidates for index 0, 1, … until an index has none.</summary>
    public static List<TensorSpec> FindDown(IReadOnlyList<TensorSpec> specs, Func<int, string[]> candidates)
    {
        var found = new List<TensorSpec>();
        for (int index = 0; ; index++)
        {
            TensorSpec? spec = Find(specs, candidates(index));
            if (spec is null)
                return found;
            found.Add(spec);
        }
    }

    public static TensorSpec? Find(IReadOnlyList<TensorSpec> specs, string[] names)
    {
        foreach (string name in names)
        {
            foreach (TensorSpec spec in specs)
            {
                if (string.Equals(spec.Name, name, StringComparison.Ordinal))
                    return spec;
            }
        }
        return null;
    }

    /// <summary>ResBlocks per down block in SD 1.x/2.x and SDXL UNets and ControlNets (diffusers' <c>layers_per_block</c>).</summary>
    public const int DefaultLayersPerBlock = 2;

    /// <summary>
    /// ResBlocks per down block of the model at <paramref name="modelPath"/>: <c>layers_per_block</c> from the
    /// <c>config.json</c> beside it, else <see cref="DefaultLayersPerBlock"/>. The residual layout follows from it, so a
    /// count of down residuals it cannot produce (blocks × (layers + 1)) is refused here rather than run at wrong sizes.
    /// </summary>
    /// <exception cref="ModelContractException">The down residual count does not fit the layer count.</exception>
    /// <exception cref="ModelLoadException">The config's <c>layers_per_block</c> is not a count from 1 to 8.</exception>
    public static int ReadLayersPerBlock(string modelPath, IReadOnlyList<TensorSpec> down)
    {
        string config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".", "config.json");
        int? configured = ModelFolderJson.ReadLayersPerBlock(config);
        int layers = configured ?? DefaultLayersPerBlock;
        if (down.Count % (layers + 1) != 0)
            throw new ModelContractException(modelPath, down[^1].Name,
                $"{down.Count} down-block residuals cannot come from down blocks of {layers} ResBlocks and a downsampler each " +
                (configured is null
                    ? $"(layers_per_block {layers}, SD's and SDXL's; no config.json beside the model says otherwise): put the model's diffusers config.json beside it."
                    : $"(layers_per_block in {config})."));
        return layers;
    }

    /// <summary>
    /// The latent-size level of down residual <paramref name="index"/>: the encoder emits <c>conv_in</c>'s residual at full
    /// size, then per down block one per ResBlock followed by its downsampler's, which is a level lower (SD with two
    /// ResBlocks per block: three residuals per resolution, 0–2 full size, 3–5 half, …).
    /// </summary>
    public static int Level(int index, int layersPerBlock)
    {
        if (index == 0)
            return 0;
        int block = (index - 1) / (layersPerBlock + 1);
        return (index - 1) % (layersPerBlock + 1) == layersPerBlock ? block + 1 : block;
    }

    /// <summary>The size of a latent axis after <paramref name="level"/> stride-2 downsamplers (kernel 3, padding 1: ⌈s/2⌉ each).</summary>
    public static int SizeAtLevel(int size, int level)
    {
        for (int i = 0; i < level; i++)
            size = (size + 1) / 2;
        return size;
    }
}
