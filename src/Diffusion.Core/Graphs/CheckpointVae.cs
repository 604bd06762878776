using Diffusion.Core.Execution;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Models;

namespace Diffusion.Core.Graphs;

/// <summary>
/// The VAE encoder and decoder of a diffusers <c>vae/</c> folder of safetensors (<c>config.json</c> and
/// <c>diffusion_pytorch_model.safetensors</c>, its <c>.fp16</c> variant or shards): graphs built, weights left in the
/// file, loaded as the same <see cref="VaeEncoder"/> / <see cref="VaeDecoder"/> an optimum export gives.
/// </summary>
internal static class CheckpointVae
{
    private const string WeightStem = "diffusion_pytorch_model";

    /// <exception cref="ModelLoadException">The config or the weights are missing, or the config is invalid.</exception>
    /// <exception cref="WeightFileException">A file is malformed or truncated, or a tensor is missing or misshaped (named).</exception>
    public static VaeDecoder LoadDecoder(string folder, SessionSettings settings) => VaeDecoder.Load(BuildDecoder(folder).ToSource(), settings);

    /// <inheritdoc cref="LoadDecoder"/>
    public static VaeEncoder LoadEncoder(string folder, SessionSettings settings) => VaeEncoder.Load(BuildEncoder(folder).ToSource(), settings);

    /// <summary>Builds the decoder's graph (no session).</summary>
    /// <inheritdoc cref="LoadDecoder" path="/exception"/>
    public static BuiltModel BuildDecoder(string folder)
    {
        AutoencoderKlConfig config = AutoencoderKlConfig.FromJson(Path.Combine(folder, "config.json"));
        using var weights = new SafeTensorsWeightSource(CheckpointFiles.Find(folder, WeightStem));
        return AutoencoderKlGraph.BuildDecoder(config, weights);
    }

    /// <summary>Builds the encoder's graph (no session).</summary>
    /// <inheritdoc cref="LoadDecoder" path="/exception"/>
    public static BuiltModel BuildEncoder(string folder)
    {
        AutoencoderKlConfig config = AutoencoderKlConfig.FromJson(Path.Combine(folder, "config.json"));
        using var weights = new SafeTensorsWeightSource(CheckpointFiles.Find(folder, WeightStem));
        return AutoencoderKlGraph.BuildEncoder(config, weights);
    }
}
