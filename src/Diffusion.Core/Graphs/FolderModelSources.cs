using Diffusion.Core.Models;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Turns the component files a <see cref="StableDiffusionModelFolder"/> found into model sources: an <c>.onnx</c> file
/// as it is, safetensors weights (diffusers / transformers layout, with the component's <c>config.json</c>) as a graph
/// built for them. A folder may mix the two per component.
/// </summary>
internal static class FolderModelSources
{
    /// <summary>A CLIP text encoder: <c>text_encoder/model.onnx</c>, or the graph built over <c>text_encoder/model.safetensors</c>.</summary>
    public static ModelSource TextEncoder(string path)
        => CheckpointFiles.IsCheckpoint(path) ? CheckpointTextEncoder.Build(Folder(path)).ToSource() : ModelSource.FromFile(path);

    /// <summary>
    /// The UNet; an SDXL UNet built from safetensors takes <c>text_embeds</c> as wide as <c>text_encoder_2</c>'s projection
    /// (its <c>config.json</c>'s <c>projection_dim</c>, else SDXL's 1280).
    /// </summary>
    public static ModelSource UNet(string path, string modelDirectory)
        => CheckpointFiles.IsCheckpoint(path) ? CheckpointUNet.Build(Folder(path), PooledWidth(modelDirectory)).ToSource() : ModelSource.FromFile(path);

    /// <summary>The VAE decoder: <c>vae_decoder/model.onnx</c>, or the decoder half built over <c>vae/</c>.</summary>
    public static ModelSource VaeDecoder(string path)
        => CheckpointFiles.IsCheckpoint(path) ? CheckpointVae.BuildDecoder(Folder(path)).ToSource() : ModelSource.FromFile(path);

    /// <summary>The VAE encoder: <c>vae_encoder/model.onnx</c>, or the encoder half built over <c>vae/</c>.</summary>
    public static ModelSource VaeEncoder(string path)
        => CheckpointFiles.IsCheckpoint(path) ? CheckpointVae.BuildEncoder(Folder(path)).ToSource() : ModelSource.FromFile(path);

    private static string Folder(string path) => Path.GetDirectoryName(Path.GetFullPath(path))!;

    private static int PooledWidth(string modelDirectory)
    {
        string config = Path.Combine(modelDirectory, "text_encoder_2", "config.json");
        if (!File.Exists(config))
            return 1280;
        using Architectures.ConfigFields fields = Architectures.ConfigFields.Read(config);
        return fields.Int("projection_dim", 1, 16384, 1280);
    }
}
