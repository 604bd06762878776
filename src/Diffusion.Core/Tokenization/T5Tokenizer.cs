namespace Diffusion.Core.Tokenization;

/// <summary>
/// The T5 tokenizer of FLUX.1 (<c>tokenizer_2/</c>) and SD3/3.5 (<c>tokenizer_3/</c>): SentencePiece unigram ids
/// (<see cref="SentencePieceModel"/>, equal to the reference <c>sentencepiece</c> library's <c>encode</c>), then
/// <c>&lt;/s&gt;</c>, then <c>&lt;pad&gt;</c> up to the pipeline's <c>max_sequence_length</c>, as diffusers asks
/// transformers' T5 tokenizer for (<c>padding="max_length"</c>, <c>truncation=True</c>).
/// </summary>
/// <remarks>
/// Where this differs from Hugging Face's <c>T5TokenizerFast</c> (docs/t5-tokenizer.md lists each with its test): the
/// special tokens' text in a prompt (<c>&lt;/s&gt;</c>, <c>&lt;pad&gt;</c>, <c>&lt;unk&gt;</c>,
/// <c>&lt;extra_id_N&gt;</c>) is tokenized as text, as SentencePiece does, where transformers maps it to the special
/// ids; so the 100 <c>&lt;extra_id_N&gt;</c> ids transformers appends (32000..32099) never appear.
/// </remarks>
public sealed class T5Tokenizer
{
    /// <summary>FLUX.1's <c>max_sequence_length</c> default (diffusers' FluxPipeline).</summary>
    public const int FluxMaxSequenceLength = 512;

    /// <summary>SD3/3.5's <c>max_sequence_length</c> default (diffusers' StableDiffusion3Pipeline).</summary>
    public const int Sd3MaxSequenceLength = 256;

    /// <summary>The longest sequence <see cref="Tokenize"/> pads to (T5's relative attention has no hard limit; the pipelines allow 512).</summary>
    public const int MaxSequenceLengthLimit = 4096;

    private const string ModelFileName = "spiece.model";

    private T5Tokenizer(SentencePieceModel model)
    {
        if (model.EosId < 0)
            throw new ModelLoadException(model.Source, "the SentencePiece model has no end-of-sequence piece (</s>), which T5 appends to every prompt.");
        if (model.PadId < 0)
            throw new ModelLoadException(model.Source, "the SentencePiece model has no padding piece (<pad>), which T5 pads with.");
        Model = model;
    }

    /// <summary>The SentencePiece model.</summary>
    public SentencePieceModel Model { get; }

    /// <summary>The id appended after the prompt's tokens (1, <c>&lt;/s&gt;</c>, in T5's vocabulary).</summary>
    public int EosTokenId => Model.EosId;

    /// <summary>The padding id (0, <c>&lt;pad&gt;</c>, in T5's vocabulary).</summary>
    public int PadTokenId => Model.PadId;

    /// <summary>Loads <c>spiece.model</c> from a tokenizer folder (FLUX.1's <c>tokenizer_2/</c>, SD3's <c>tokenizer_3/</c>).</summary>
    /// <exception cref="ModelLoadException">The folder or its <c>spiece.model</c> is missing, or the model is unusable.</exception>
    public static T5Tokenizer FromDirectory(string tokenizerDirectory)
    {
        ArgumentNullException.ThrowIfNull(tokenizerDirectory);
        if (!Directory.Exists(tokenizerDirectory))
            throw new ModelLoadException(tokenizerDirectory, "the T5 tokenizer folder does not exist.");
        string path = Path.Combine(tokenizerDirectory, ModelFileName);
        if (!File.Exists(path))
        {
            string hint = File.Exists(Path.Combine(tokenizerDirectory, "tokenizer.json"))
                ? " It has only tokenizer.json (transformers' fast format); this library reads the SentencePiece model that diffusers' T5 folders ship beside it."
                : "";
            throw new ModelLoadException(path, "the T5 tokenizer folder has no spiece.model." + hint);
        }
        return FromModelFile(path);
    }

    /// <summary>Loads a SentencePiece model file as a T5 tokenizer.</summary>
    /// <exception cref="ModelLoadException">The file is missing, unreadable or not a usable unigram model with &lt;/s&gt; and &lt;pad&gt;.</exception>
    public static T5Tokenizer FromModelFile(string spieceModelPath) => new(SentencePieceModel.FromFile(spieceModelPath));

    /// <summary>The prompt's SentencePiece ids, without <c>&lt;/s&gt;</c> or padding.</summary>
    public int[] Encode(string text) => Model.Encode(text);

    /// <summary>
    /// The encoder input for a prompt: its ids (the first <paramref name="maxSequenceLength"/> − 1 when longer, the
    /// rest reported in <see cref="TokenizedText.DroppedTokenCount"/>), <c>&lt;/s&gt;</c>, then padding to
    /// <paramref name="maxSequenceLength"/>. <see cref="TokenizedText.TokenCount"/> is the attention mask's length.
    /// </summary>
    /// <exception cref="InvalidOptionException"><paramref name="maxSequenceLength"/> is outside 1..<see cref="MaxSequenceLengthLimit"/>.</exception>
    public TokenizedText Tokenize(string text, int maxSequenceLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (maxSequenceLength < 1 || maxSequenceLength > MaxSequenceLengthLimit)
            throw new InvalidOptionException("MaxSequenceLength", $"must be between 1 and {MaxSequenceLengthLimit}, got {maxSequenceLength}.");
        int[] tokens = Encode(text);
        int kept = Math.Min(tokens.Length, maxSequenceLength - 1);
        var ids = new int[maxSequenceLength];
        tokens.AsSpan(0, kept).CopyTo(ids);
        ids[kept] = EosTokenId;
        ids.AsSpan(kept + 1).Fill(PadTokenId);
        return new TokenizedText(ids, kept + 1, tokens.Length - kept);
    }
}
