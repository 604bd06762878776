using Diffusion.Core.Execution;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Models;

namespace Diffusion.Core.Graphs;

/// <summary>
/// The UNet of a diffusers <c>unet/</c> folder of safetensors (<c>config.json</c> and
/// <c>diffusion_pytorch_model.safetensors</c>, its <c>.fp16</c> variant or shards): graph built, weights left in the
/// files, loaded as the same <see cref="UNet"/> an optimum export gives.
/// </summary>
internal static class CheckpointUNet
{
    private const string WeightStem = "diffusion_pytorch_model";

    /// <param name="folder">The <c>unet/</c> folder.</param>
    /// <param name="settings">Session settings.</param>
    /// <param name="textEmbedsWidth">SDXL: the pooled text width <c>text_embeds</c> has (the second text encoder's projection).</param>
    /// <exception cref="ModelLoadException">The config or the weights are missing, or the config is invalid or asks for an unbuilt feature.</exception>
    /// <exception cref="WeightFileException">A file is malformed or truncated, or a tensor is missing or misshaped (named).</exception>
    public static UNet Load(string folder, SessionSettings settings, int textEmbedsWidth = 1280)
        => UNet.Load(Build(folder, textEmbedsWidth).ToSource(), settings);

    /// <summary>Builds the UNet's graph (no session).</summary>
    /// <inheritdoc cref="Load" path="/exception"/>
    public static BuiltModel Build(string folder, int textEmbedsWidth = 1280)
    {
        UNetConfig config = UNetConfig.FromJson(Path.Combine(folder, "config.json"), textEmbedsWidth);
        using var weights = new SafeTensorsWeightSource(CheckpointFiles.Find(folder, WeightStem));
        return UNet2DConditionGraph.Build(config, weights);
    }
}
