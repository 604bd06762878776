using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// A VAE file given beside a single-file checkpoint (the web UIs' VAE setting, e.g. <c>vae-ft-mse-840000-ema-pruned.safetensors</c>
/// or <c>sdxl_vae.safetensors</c>): the original LDM names with or without <c>first_stage_model.</c>, or diffusers' names.
/// </summary>
internal static class SeparateVae
{
    /// <exception cref="WeightFileException">The file is malformed, or holds no VAE decoder under a known naming.</exception>
    public static (BuiltModel Decoder, BuiltModel Encoder) Build(string path, AutoencoderKlConfig config)
    {
        Weights.PickleCheckpointGuard.ThrowIfPickleExtension(path);
        using var file = new SafeTensorsWeightSource([Path.GetFullPath(path)]);
        if (file.Contains("decoder.up_blocks.0.resnets.0.conv1.weight"))
            return (AutoencoderKlGraph.BuildDecoder(config, file), AutoencoderKlGraph.BuildEncoder(config, file));
        foreach (string prefix in (string[])[SingleFileLayout.Vae, ""])
        {
            if (file.Contains(prefix + "decoder.conv_in.weight"))
                return SingleFileCheckpoint.BuildVae(file, prefix, config);
        }
        throw new WeightFileException(path, "decoder.conv_in.weight", "missing: not a VAE file (neither the original first_stage_model / encoder.down.* names nor diffusers' decoder.up_blocks.* names).");
    }
}
