using Diffusion.Core.Execution;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.TextEncoding;

namespace Diffusion.Core.Graphs;

/// <summary>
/// A CLIP or T5 text encoder from a transformers checkpoint folder (<c>config.json</c> and <c>model.safetensors</c>, or its
/// <c>model.fp16.safetensors</c> variant, or the shards a <c>model.safetensors.index.json</c> lists): the graph is built,
/// the weights stay in the files, and the result is the same <see cref="TextEncoder"/> an optimum export gives.
/// </summary>
/// <remarks>
/// A config whose <c>model_type</c> is <c>t5</c> builds transformers' <c>T5EncoderModel</c> (FLUX.1's
/// <c>text_encoder_2/</c>, SD3's <c>text_encoder_3/</c>: int64 <c>input_ids</c> → <c>last_hidden_state</c>; callers pass
/// int32 ids as to CLIP). Otherwise, with a <c>text_projection.weight</c> tensor the model is <c>CLIPTextModelWithProjection</c> (outputs
/// <c>text_embeds</c> first, as SDXL's <c>text_encoder_2</c>), else <c>CLIPTextModel</c> (<c>pooler_output</c>): the
/// tensor decides, since transformers writes <c>projection_dim</c> into every CLIP text config.
/// </remarks>
internal static class CheckpointTextEncoder
{
    /// <summary>Builds and loads the encoder in <paramref name="folder"/>.</summary>
    /// <exception cref="ModelLoadException">The folder has no config or weights, or the config is invalid.</exception>
    /// <exception cref="WeightFileException">A file is malformed or truncated, or a tensor is missing or misshaped (named).</exception>
    public static TextEncoder Load(string folder, SessionSettings settings) => TextEncoder.Load(Build(folder).ToSource(), settings);

    /// <summary>Builds the encoder's graph over the weights in <paramref name="folder"/> (no session).</summary>
    /// <inheritdoc cref="Load" path="/exception"/>
    public static BuiltModel Build(string folder)
    {
        string config = Path.Combine(folder, "config.json");
        if (!File.Exists(config))
            throw new ModelLoadException(folder, "no config.json: a transformers text-encoder folder holds config.json beside its safetensors weights.");
        using var weights = new SafeTensorsWeightSource(CheckpointFiles.Find(folder, "model"));
        if (IsT5(config))
            return T5EncoderGraph.Build(T5EncoderConfig.FromJson(config), weights);
        bool projection = weights.Contains("text_projection.weight");
        ClipTextConfig clip = ClipTextConfig.FromJson(config, projection);
        return ClipTextModelGraph.Build(clip, weights);
    }

    private static bool IsT5(string configPath)
    {
        using ConfigFields fields = ConfigFields.Read(configPath);
        return fields.String("model_type", "clip_text_model") == "t5";
    }
}
