using Diffusion.Core.Execution;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.TextEncoding;

namespace Diffusion.Core.Graphs;

/// <summary>
/// A T5 encoder from a transformers checkpoint folder (FLUX.1's <c>text_encoder_2/</c>, SD3's <c>text_encoder_3/</c>:
/// <c>config.json</c> and <c>model.safetensors</c>, its <c>model.fp16.safetensors</c> variant, or the shards a
/// <c>model.safetensors.index.json</c> lists): the graph is built, the weights stay in the files.
/// </summary>
internal static class CheckpointT5Encoder
{
    /// <summary>
    /// Builds and loads the encoder in <paramref name="folder"/> as a <see cref="TextEncoder"/> (the contract of an optimum
    /// T5 export: int64 <c>input_ids</c>, <c>last_hidden_state</c>; callers pass int32 ids, as to CLIP).
    /// </summary>
    /// <inheritdoc cref="Build" path="/exception"/>
    public static TextEncoder Load(string folder, SessionSettings settings) => TextEncoder.Load(Build(folder).ToSource(), settings);

    /// <summary>Builds the encoder's graph over the weights in <paramref name="folder"/> (no session).</summary>
    /// <exception cref="ModelLoadException">The folder has no config or weights, or the config is invalid.</exception>
    /// <exception cref="WeightFileException">A file is malformed or truncated, or a tensor is missing or misshaped (named).</exception>
    public static BuiltModel Build(string folder)
    {
        string config = Path.Combine(folder, "config.json");
        if (!File.Exists(config))
            throw new ModelLoadException(folder, "no config.json: a transformers T5 encoder folder holds config.json beside its safetensors weights.");
        using var weights = new SafeTensorsWeightSource(CheckpointFiles.Find(folder, "model"));
        return T5EncoderGraph.Build(T5EncoderConfig.FromJson(config), weights);
    }
}
