using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// The components an all-in-one SD3/FLUX.1 single file holds beside its transformer, as model sites publish them
/// (Stability AI's <c>sd3_medium_incl_clips_t5xxlfp8.safetensors</c>, ComfyUI's <c>flux1-dev-fp8.safetensors</c>): the
/// text encoders under <c>text_encoders.clip_l.transformer.</c>, <c>text_encoders.clip_g.transformer.</c> and
/// <c>text_encoders.t5xxl.transformer.</c> in transformers' own names, the VAE in the original LDM names under
/// <c>first_stage_model.</c> (Stability AI) or <c>vae.</c> (ComfyUI) — the prefixes diffusers' <c>single_file_utils.py</c>
/// reads. Their configs come from the config folder (<c>text_encoder/config.json</c>…); their weights stay in the file.
/// </summary>
internal sealed class FlowCheckpointComponents
{
    /// <summary>CLIP-L's prefix.</summary>
    public const string ClipL = "text_encoders.clip_l.transformer.";

    /// <summary>SD3's CLIP-G (OpenCLIP bigG in transformers' names).</summary>
    public const string ClipG = "text_encoders.clip_g.transformer.";

    /// <summary>The T5-XXL encoder.</summary>
    public const string T5 = "text_encoders.t5xxl.transformer.";

    private static readonly string[] s_vaePrefixes = [SingleFileLayout.Vae, "vae."];

    private readonly string _path;
    private readonly HashSet<string> _textEncoders = new(StringComparer.Ordinal);

    private FlowCheckpointComponents(string path, string? vaePrefix)
    {
        _path = path;
        VaePrefix = vaePrefix;
    }

    /// <summary>The VAE's prefix in the file, or null when it has no VAE.</summary>
    public string? VaePrefix { get; }

    /// <summary>Reads which components <paramref name="path"/> holds (only its header).</summary>
    public static FlowCheckpointComponents Read(string path)
    {
        using var file = new SafeTensorsWeightSource([path]);
        var components = new FlowCheckpointComponents(path, s_vaePrefixes.FirstOrDefault(prefix => file.Contains(prefix + "decoder.conv_in.weight")));
        foreach (string prefix in (string[])[ClipL, ClipG])
        {
            if (file.Contains(prefix + "text_model.embeddings.token_embedding.weight"))
                components._textEncoders.Add(prefix);
        }
        if (file.Contains(T5 + "encoder.block.0.layer.0.SelfAttention.q.weight"))
            components._textEncoders.Add(T5);
        return components;
    }

    /// <summary>Whether the file holds the text encoder under <paramref name="prefix"/> (<see cref="ClipL"/>, <see cref="ClipG"/>, <see cref="T5"/>).</summary>
    public bool HasTextEncoder(string prefix) => _textEncoders.Contains(prefix);

    /// <summary>What the file holds beside its transformer, for the log.</summary>
    public string Describe()
    {
        var names = new List<string>(4);
        if (HasTextEncoder(ClipL)) names.Add("CLIP-L");
        if (HasTextEncoder(ClipG)) names.Add("CLIP-G");
        if (HasTextEncoder(T5)) names.Add("T5");
        if (VaePrefix is not null) names.Add($"VAE ({VaePrefix})");
        return names.Count == 0 ? "the transformer only" : "the transformer, " + string.Join(", ", names);
    }

    /// <summary>Builds the text encoder under <paramref name="prefix"/> with the config at <paramref name="configPath"/>.</summary>
    /// <exception cref="ModelLoadException">The config is missing or invalid.</exception>
    /// <exception cref="WeightFileException">A tensor is missing or misshaped (named).</exception>
    public BuiltModel BuildTextEncoder(string prefix, string configPath, string component)
    {
        if (!File.Exists(configPath))
            throw new ModelLoadException(configPath, $"missing: the {component} inside {_path} is built with its config.json from the config folder.");
        using var file = new SafeTensorsWeightSource([_path]);
        var view = new MappedWeightSource(file, component, name => new CheckpointTensor(prefix + name));
        return prefix == T5
            ? T5EncoderGraph.Build(T5EncoderConfig.FromJson(configPath), view, component)
            : ClipTextModelGraph.Build(ClipTextConfig.FromJson(configPath, file.Contains(prefix + "text_projection.weight")), view, component);
    }

    /// <summary>Builds the VAE's decoder and encoder with the config at <paramref name="configPath"/>.</summary>
    /// <inheritdoc cref="BuildTextEncoder" path="/exception"/>
    public (BuiltModel Decoder, BuiltModel Encoder) BuildVae(string configPath)
    {
        if (VaePrefix is null)
            throw new InvalidOperationException("the file holds no VAE.");
        if (!File.Exists(configPath))
            throw new ModelLoadException(configPath, $"missing: the VAE inside {_path} is built with its config.json from the config folder.");
        using var file = new SafeTensorsWeightSource([_path]);
        return SingleFileCheckpoint.BuildVae(file, VaePrefix, AutoencoderKlConfig.FromJson(configPath));
    }
}
