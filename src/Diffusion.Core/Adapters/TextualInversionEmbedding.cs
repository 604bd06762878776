using Diffusion.Core.TextEncoding;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Adapters;

/// <summary>
/// A textual-inversion embedding: one or more learned token vectors of the text encoder's width, read from a
/// <c>.safetensors</c> file, added to the model as new tokens appended after its vocabulary.
/// </summary>
/// <remarks>
/// File layouts (as diffusers' <c>load_textual_inversion</c> reads them): A1111 <c>emb_params</c> [n, width] or
/// <c>string_to_param.*</c>; diffusers <c>learned_embeds</c>, or a single key naming the token. An embedding of
/// n &gt; 1 vectors becomes the tokens <c>name</c>, <c>name_1</c>, …, <c>name_{n-1}</c>, as diffusers names them (a
/// prompt's <c>name</c> must then be expanded to all of them by the tokenizer). The token name is the
/// <c>token</c> argument, else the single key of a diffusers file, else the file name without extension (A1111).
/// </remarks>
public sealed class TextualInversionEmbedding
{
    private readonly float[] _vectors;

    private TextualInversionEmbedding(string filePath, string token, int vectorCount, int width, float[] vectors)
    {
        FilePath = filePath;
        Token = token;
        VectorCount = vectorCount;
        Width = width;
        _vectors = vectors;
        var tokens = new string[vectorCount];
        for (int i = 0; i < vectorCount; i++)
            tokens[i] = i == 0 ? token : $"{token}_{i}";
        Tokens = tokens;
    }

    /// <summary>The <c>.safetensors</c> file.</summary>
    public string FilePath { get; }

    /// <summary>The token a prompt uses for this embedding.</summary>
    public string Token { get; }

    /// <summary>The token strings added to the vocabulary, one per vector: <c>Token</c>, <c>Token_1</c>, ….</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>Number of vectors (tokens) the embedding spans.</summary>
    public int VectorCount { get; }

    /// <summary>Vector width; must equal the text encoder's hidden size (768 for SD 1.x, 1024 for SD 2.x).</summary>
    public int Width { get; }

    /// <summary>The vectors, [VectorCount, Width] row-major, float32.</summary>
    public ReadOnlyMemory<float> Vectors => _vectors;

    /// <summary>Reads an embedding.</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <param name="token">The token to use; null for the file's own (single diffusers key) or the file name.</param>
    /// <exception cref="WeightFileException">Not a valid safetensors file, no embedding key found, several candidate
    /// keys (e.g. SD-XL's <c>clip_l</c>/<c>clip_g</c>), or a tensor that is not [n, width] or [width].</exception>
    public static TextualInversionEmbedding Load(string path, string? token = null) => Load(path, token, null);

    /// <summary>
    /// Reads the embedding stored under <paramref name="tensorName"/> (an SDXL embedding holds <c>clip_l</c> for the first
    /// text encoder and <c>clip_g</c> for the second), or, when null, as <see cref="Load(string, string?)"/> finds it.
    /// </summary>
    internal static TextualInversionEmbedding Load(string path, string? token, string? tensorName)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        SafeTensorInfo? chosen = null;
        bool tokenFromKey = false;
        if (tensorName is not null && !file.TryGetTensor(tensorName, out chosen))
        {
            throw new WeightFileException(path, tensorName,
                $"missing: an SDXL textual-inversion file holds clip_l (the first text encoder's vectors) and clip_g (the second's); this one has {string.Join(", ", file.Tensors.Select(t => t.Name))}.");
        }
        foreach (SafeTensorInfo tensor in chosen is null ? file.Tensors : [])
        {
            if (tensor.Name is "emb_params" or "learned_embeds" || tensor.Name.StartsWith("string_to_param", StringComparison.Ordinal))
            {
                chosen = tensor;
                break;
            }
        }
        if (chosen is null)
        {
            if (file.Tensors.Count != 1)
            {
                throw new WeightFileException(path, null,
                    $"no textual-inversion key found (expected 'emb_params', 'string_to_param.*', 'learned_embeds' or a single key naming the token); the file has {file.Tensors.Count} tensors.");
            }
            chosen = file.Tensors[0];
            tokenFromKey = true;
        }
        if (chosen.Shape.Count is not (1 or 2) || chosen.ElementCount == 0)
            throw new WeightFileException(path, chosen.Name, $"an embedding must be [n, width] or [width], got [{string.Join(", ", chosen.Shape)}].");
        int vectorCount = chosen.Shape.Count == 1 ? 1 : checked((int)chosen.Shape[0]);
        int width = checked((int)chosen.Shape[^1]);
        float[] vectors = file.ReadAsFloat32(chosen.Name);
        string name = token ?? (tokenFromKey ? chosen.Name : Path.GetFileNameWithoutExtension(path));
        if (string.IsNullOrWhiteSpace(name))
            throw new WeightFileException(path, chosen.Name, "the embedding's token name is empty.");
        return new TextualInversionEmbedding(path, name, vectorCount, width, vectors);
    }

    /// <summary>
    /// Builds the text encoder's token-embedding matrix enlarged by every vector of <paramref name="embeddings"/>:
    /// [vocab + Σn, width], the original rows unchanged, the new rows appended in order. The matrix is the data
    /// input of the graph's Gather on the token ids (e.g. <c>text_model.embeddings.token_embedding.weight</c>).
    /// </summary>
    /// <param name="textEncoderPath">The text encoder's <c>model.onnx</c>.</param>
    /// <param name="embeddings">Embeddings to add; their tokens must be distinct.</param>
    /// <param name="addedTokens">Each new token string with its id (vocabulary size + i), for the tokenizer.</param>
    /// <returns>The enlarged matrix as an override; apply with <see cref="WeightOverrides.ApplyTo(Microsoft.ML.OnnxRuntime.SessionOptions)"/>.</returns>
    /// <exception cref="ModelContractException">No token-embedding Gather found in the model.</exception>
    /// <exception cref="WeightFileException">An embedding's width differs from the model's, or a token repeats.</exception>
    public static WeightOverrides CreateOverrides(string textEncoderPath, IReadOnlyList<TextualInversionEmbedding> embeddings,
        out IReadOnlyList<TextualInversionToken> addedTokens)
        => CreateOverrides(Models.ModelSource.FromFile(textEncoderPath ?? throw new ArgumentNullException(nameof(textEncoderPath))), embeddings, out addedTokens);

    /// <summary>As <see cref="CreateOverrides(string, IReadOnlyList{TextualInversionEmbedding}, out IReadOnlyList{TextualInversionToken})"/>, for a model file or a built graph.</summary>
    internal static WeightOverrides CreateOverrides(Models.ModelSource textEncoder, IReadOnlyList<TextualInversionEmbedding> embeddings,
        out IReadOnlyList<TextualInversionToken> addedTokens)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        string textEncoderPath = textEncoder.Description;
        OnnxModelGraph graph = OnnxWeightReader.Read(textEncoder);
        OnnxInitializer table = FindTokenEmbedding(graph);
        long vocabulary = table.Dims[0];
        int width = checked((int)table.Dims[1]);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var tokens = new List<TextualInversionToken>();
        int added = 0;
        foreach (TextualInversionEmbedding embedding in embeddings)
        {
            if (embedding.Width != width)
                throw new WeightFileException(embedding.FilePath, embedding.Token,
                    $"embedding width {embedding.Width} differs from the text encoder's {width} ({table.Name} in {textEncoderPath}): an embedding for another model.");
            foreach (string token in embedding.Tokens)
            {
                if (!seen.Add(token))
                    throw new WeightFileException(embedding.FilePath, token, "this token is already added by an earlier embedding.");
                tokens.Add(new TextualInversionToken(token, checked((int)(vocabulary + added))));
                added++;
            }
        }

        float[] original = graph.ReadAsFloat32(table);
        var enlarged = new float[original.Length + (long)added * width];
        original.CopyTo(enlarged, 0);
        int offset = original.Length;
        foreach (TextualInversionEmbedding embedding in embeddings)
        {
            embedding._vectors.CopyTo(enlarged, offset);
            offset += embedding._vectors.Length;
        }
        var overrides = new WeightOverrides(textEncoderPath);
        overrides.Add(table.Name, enlarged, [vocabulary + added, width], table.ElementType, isConvWeight: false);
        addedTokens = tokens;
        return overrides;
    }

    private static OnnxInitializer FindTokenEmbedding(OnnxModelGraph graph)
        => TokenEmbeddingTable.Find(graph) ?? throw new ModelContractException(graph.ModelPath, graph.Inputs.Count > 0 ? graph.Inputs[0] : "input_ids",
            "no Gather of a token-embedding initializer on the token ids was found; cannot add textual-inversion tokens.");
}
