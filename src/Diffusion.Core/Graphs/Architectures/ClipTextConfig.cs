using Diffusion.Core.Models;

namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// A CLIP text transformer's shape, as transformers' <c>CLIPTextConfig</c> names it: vocabulary, width, layers, heads,
/// MLP width, positions, activation and (for <c>CLIPTextModelWithProjection</c>) the projection width.
/// </summary>
internal sealed record ClipTextConfig(int VocabSize, int HiddenSize, int Layers, int Heads, int IntermediateSize, int MaxPositions,
    string Activation, int? ProjectionDim, float LayerNormEpsilon = 1e-5f)
{
    /// <summary>OpenAI CLIP ViT-L/14's text encoder (SD 1.x, SDXL's <c>text_encoder</c>): 123,060,480 parameters.</summary>
    public static ClipTextConfig ViTL14 { get; } = new(49408, 768, 12, 12, 3072, 77, "quick_gelu", null);

    /// <summary>
    /// OpenCLIP ViT-H/14's text encoder as SD 2.x uses it: 23 of its 24 layers (the web UIs' and diffusers' conversion
    /// drop the last, since SD 2.x conditions on the penultimate layer).
    /// </summary>
    public static ClipTextConfig OpenClipViTH14 { get; } = new(49408, 1024, 23, 16, 4096, 77, "gelu", null);

    /// <summary>OpenCLIP ViT-bigG/14's text encoder with its projection (SDXL's <c>text_encoder_2</c>).</summary>
    public static ClipTextConfig OpenClipViTBigG14 { get; } = new(49408, 1280, 32, 20, 5120, 77, "gelu", 1280);

    /// <summary>Width of one attention head.</summary>
    public int HeadSize => HiddenSize / Heads;

    /// <summary>
    /// The config a checkpoint's tensor shapes give: vocabulary, width and positions from the embeddings, layers by
    /// count, MLP width from <c>fc1</c>, the projection from <c>text_projection</c>; heads at CLIP's 64 per head (ViT-L 12,
    /// ViT-H 16, bigG 20), as shapes cannot tell them. <paramref name="dropLastLayer"/> builds one layer fewer than stored.
    /// </summary>
    /// <exception cref="WeightFileException">An embedding is missing, or the width is not a multiple of 64.</exception>
    public static ClipTextConfig FromWeights(IWeightSource weights, string activation, bool dropLastLayer)
    {
        long[] Shape(string name) => weights.Find(name, [])?.Shape
            ?? throw new WeightFileException(weights.Description, name, "missing: a CLIP text encoder has it.");
        long[] tokens = Shape("text_model.embeddings.token_embedding.weight");
        long[] positions = Shape("text_model.embeddings.position_embedding.weight");
        int width = checked((int)tokens[^1]);
        if (tokens.Length != 2 || positions.Length != 2 || width % 64 != 0)
            throw new WeightFileException(weights.Description, "text_model.embeddings.token_embedding.weight",
                $"has shape [{string.Join(", ", tokens)}]; inferring the heads needs a width that is a multiple of 64 (give the text encoder's config.json instead).");
        int layers = 0;
        while (weights.Find($"text_model.encoder.layers.{layers}.layer_norm1.weight", []) is not null)
            layers++;
        if (dropLastLayer)
            layers--;
        if (layers < 1)
            throw new WeightFileException(weights.Description, "text_model.encoder.layers.0.layer_norm1.weight", "missing: a CLIP text encoder has at least one layer.");
        int intermediate = checked((int)Shape("text_model.encoder.layers.0.mlp.fc1.weight")[0]);
        WeightReference? projection = weights.Find("text_projection.weight", []);
        int? projectionDim = projection is null ? null : checked((int)(projection.StoredTransposed ? projection.Shape[^1] : projection.Shape[0]));
        return new ClipTextConfig(checked((int)tokens[0]), width, layers, width / 64, intermediate, checked((int)positions[0]), activation, projectionDim);
    }

    /// <summary>
    /// Reads a transformers <c>config.json</c> (<c>CLIPTextConfig</c>: <c>vocab_size</c>, <c>hidden_size</c>,
    /// <c>num_hidden_layers</c>, <c>num_attention_heads</c>, <c>intermediate_size</c>, <c>max_position_embeddings</c>,
    /// <c>hidden_act</c>, <c>layer_norm_eps</c>, and <c>projection_dim</c> when <paramref name="withProjection"/>).
    /// </summary>
    /// <exception cref="ModelLoadException">A field is missing or out of range.</exception>
    public static ClipTextConfig FromJson(string path, bool withProjection)
    {
        using ConfigFields fields = ConfigFields.Read(path);
        string activation = fields.String("hidden_act", "quick_gelu");
        if (activation is not ("quick_gelu" or "gelu"))
            throw new ModelLoadException(path, $"hidden_act '{activation}' is not supported (quick_gelu or gelu).");
        var config = new ClipTextConfig(fields.Int("vocab_size", 1, 1 << 20), fields.Int("hidden_size", 1, 16384), fields.Int("num_hidden_layers", 1, 256),
            fields.Int("num_attention_heads", 1, 1024), fields.Int("intermediate_size", 1, 65536), fields.Int("max_position_embeddings", 1, 4096), activation,
            withProjection ? fields.Int("projection_dim", 1, 16384) : null, fields.Float("layer_norm_eps", 0, 1, 1e-5f));
        if (config.HiddenSize % config.Heads != 0)
            throw new ModelLoadException(path, $"hidden_size {config.HiddenSize} is not a multiple of num_attention_heads {config.Heads}.");
        return config;
    }
}
