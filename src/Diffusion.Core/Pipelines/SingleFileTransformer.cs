using Diffusion.Core.Families;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The transformer of a single-file SD3/FLUX.1 checkpoint as model sites publish it (Black Forest Labs' FLUX.1 layout,
/// with or without ComfyUI's prefix; Stability AI's SD3/3.5 layout): the layout recognised by its keys, the shape taken
/// from the config folder's <c>transformer/config.json</c> when it has one, else read from the tensors.
/// </summary>
internal static class SingleFileTransformer
{
    /// <exception cref="ModelLoadException">The file is neither layout, or its layout is not the config folder's family.</exception>
    public static BuiltModel Build(string path, string configDirectory, ModelFamily family)
    {
        bool flux, sd3;
        using (var file = new SafeTensorsWeightSource([path]))
        {
            flux = BflFluxCheckpoint.IsBflFlux(file);
            sd3 = SaiSd3Checkpoint.IsSaiSd3(file);
        }
        if (!flux && !sd3)
            throw new ModelLoadException(path, "is not a single-file SD3/FLUX.1 transformer this version reads (Black Forest Labs' FLUX.1 keys such as double_blocks.0.img_attn.qkv.weight, or Stability AI's SD3 joint_blocks.0.x_block.attn.qkv.weight).");
        if (flux != (family == ModelFamily.Flux))
            throw new ModelLoadException(path, $"holds a {(flux ? "FLUX.1" : "SD3")} transformer, but ConfigDirectory {configDirectory} is a {family.Name} model.");
        string config = Path.Combine(configDirectory, "transformer", "config.json");
        bool hasConfig = File.Exists(config);
        return flux
            ? BflFluxCheckpoint.Build(path, hasConfig ? FluxTransformerConfig.FromJson(config) : null)
            : SaiSd3Checkpoint.Build(path, hasConfig ? Sd3TransformerConfig.FromJson(config) : null);
    }
}
