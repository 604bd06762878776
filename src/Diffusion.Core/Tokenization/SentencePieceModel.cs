using System.Text;
using Google.Protobuf;
using Sentencepiece;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// A SentencePiece unigram model (<c>spiece.model</c>): its pieces, scores and normalizer, encoding text to ids as
/// <c>SentencePieceProcessor::Encode</c> does (normalize, Viterbi segmentation, consecutive unknown pieces merged into
/// one, or split into byte pieces when the model has byte fallback). Written here rather than taken from
/// Microsoft.ML.Tokenizers: its 3.0 unigram model cannot load a model without a BOS piece (T5's) and gives other
/// ids for control characters and some ties (35 of 357 reference prompts on a T5-style model).
/// </summary>
/// <remarks>Thread-safe: encoding reads the model only.</remarks>
public sealed class SentencePieceModel
{
    /// <summary>The largest model file read (T5's is 0.8 MB; multilingual models reach a few MB).</summary>
    public const long MaxFileBytes = 64L * 1024 * 1024;

    private const int MaxPieces = 1_000_000;

    private readonly SentencePieceNormalizer _normalizer;
    private readonly UnigramEncoder _encoder;
    private readonly int[]? _bytePieces;
    private readonly string[] _pieces;

    private SentencePieceModel(string source, string[] pieces, SentencePieceNormalizer normalizer, UnigramEncoder encoder,
        int[]? bytePieces, int unknownId, int eosId, int padId)
    {
        Source = source;
        _pieces = pieces;
        _normalizer = normalizer;
        _encoder = encoder;
        _bytePieces = bytePieces;
        UnknownId = unknownId;
        EosId = eosId;
        PadId = padId;
    }

    /// <summary>The file (or name) the model came from, used in errors.</summary>
    public string Source { get; }

    /// <summary>How many pieces the model has (ids are 0..this−1).</summary>
    public int PieceCount => _pieces.Length;

    /// <summary>The id of the unknown piece (<c>&lt;unk&gt;</c>).</summary>
    public int UnknownId { get; }

    /// <summary>The id of the end-of-sequence piece (<c>&lt;/s&gt;</c>), or −1 when the model has none.</summary>
    public int EosId { get; }

    /// <summary>The id of the padding piece (<c>&lt;pad&gt;</c>), or −1 when the model has none.</summary>
    public int PadId { get; }

    /// <summary>The text of piece <paramref name="id"/> (spaces shown as "▁").</summary>
    public string PieceText(int id) => _pieces[id];

    /// <summary>Loads a model file.</summary>
    /// <exception cref="ModelLoadException">The file cannot be read, is larger than <see cref="MaxFileBytes"/>, or is not a usable unigram model (the reason is named).</exception>
    public static SentencePieceModel FromFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
                throw new ModelLoadException(path, "the SentencePiece model file does not exist.");
            if (info.Length > MaxFileBytes)
                throw new ModelLoadException(path, $"the SentencePiece model is {info.Length} bytes; at most {MaxFileBytes} are read.");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException(path, $"cannot read the SentencePiece model: {e.Message}", e);
        }
        return FromBytes(bytes, path);
    }

    /// <summary>Loads a model from the bytes of a <c>.model</c> file; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="ModelLoadException">The bytes are not a usable unigram model.</exception>
    public static SentencePieceModel FromBytes(ReadOnlySpan<byte> bytes, string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (bytes.Length > MaxFileBytes)
            throw new ModelLoadException(source, $"the SentencePiece model is {bytes.Length} bytes; at most {MaxFileBytes} are read.");
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelLoadException(source, $"not a SentencePiece model (protobuf: {e.Message})", e);
        }
        return Build(proto, source);
    }

    /// <summary>The SentencePiece ids of <paramref name="text"/>, without any special token (<c>sp.encode(text)</c>).</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        byte[] utf8 = Encoding.UTF8.GetBytes(text); // a lone surrogate becomes U+FFFD here, as Python's encoder would refuse it
        var normalized = new List<byte>(utf8.Length + 8);
        _normalizer.Normalize(utf8, normalized);
        ReadOnlySpan<byte> span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(normalized);
        var segments = new List<(int Start, int End, int Id)>();
        _encoder.Encode(span, segments);

        var ids = new List<int>(segments.Count);
        bool previousUnknown = false;
        foreach ((int start, int end, int id) in segments)
        {
            bool unknown = id == UnknownId;
            if (unknown && _bytePieces is not null)
            {
                for (int i = start; i < end; i++)
                    ids.Add(_bytePieces[span[i]]);
            }
            else if (!(unknown && previousUnknown))
            {
                ids.Add(id); // consecutive unknown pieces merge into one, as SentencePieceProcessor does
            }
            previousUnknown = unknown;
        }
        return [.. ids];
    }

    private static SentencePieceModel Build(ModelProto proto, string source)
    {
        TrainerSpec trainer = proto.TrainerSpec ?? new TrainerSpec();
        if (trainer.ModelType != TrainerSpec.Types.ModelType.Unigram)
            throw new ModelLoadException(source, $"the SentencePiece model is of type {trainer.ModelType}; only unigram models (T5's) are supported.");
        int count = proto.Pieces.Count;
        if (count == 0 || count > MaxPieces)
            throw new ModelLoadException(source, $"the SentencePiece model has {count} pieces; expected 1..{MaxPieces}.");

        var pieces = new string[count];
        var scores = new float[count];
        var userDefinedFlags = new bool[count];
        var unusedFlags = new bool[count];
        var trie = new ByteTrie();
        var userDefined = new ByteTrie();
        var reserved = new HashSet<string>(StringComparer.Ordinal);
        int unknownId = -1;
        // As the C++: FLT_MAX and FLT_MIN (the smallest positive normal float, not the most negative one).
        float minScore = float.MaxValue, maxScore = 1.17549435E-38f;
        for (int i = 0; i < count; i++)
        {
            ModelProto.Types.SentencePiece piece = proto.Pieces[i];
            string text = piece.Piece;
            if (string.IsNullOrEmpty(text))
                throw new ModelLoadException(source, $"piece {i} of the SentencePiece model is empty.");
            if (!float.IsFinite(piece.Score))
                throw new ModelLoadException(source, $"piece {i} ('{text}') of the SentencePiece model has score {piece.Score}.");
            pieces[i] = text;
            scores[i] = piece.Score;
            ModelProto.Types.SentencePiece.Types.Type type = piece.Type;
            bool inTrie = type is ModelProto.Types.SentencePiece.Types.Type.Normal
                or ModelProto.Types.SentencePiece.Types.Type.UserDefined
                or ModelProto.Types.SentencePiece.Types.Type.Unused;
            bool added = inTrie ? trie.Add(Encoding.UTF8.GetBytes(text), i) : reserved.Add(text);
            if (!added)
                throw new ModelLoadException(source, $"piece '{text}' appears twice in the SentencePiece model (id {i}).");
            switch (type)
            {
                case ModelProto.Types.SentencePiece.Types.Type.Normal:
                    minScore = Math.Min(minScore, piece.Score);
                    maxScore = Math.Max(maxScore, piece.Score);
                    break;
                case ModelProto.Types.SentencePiece.Types.Type.UserDefined:
                    userDefinedFlags[i] = true;
                    userDefined.Add(Encoding.UTF8.GetBytes(text), i);
                    break;
                case ModelProto.Types.SentencePiece.Types.Type.Unused:
                    unusedFlags[i] = true;
                    break;
                case ModelProto.Types.SentencePiece.Types.Type.Unknown:
                    if (unknownId >= 0)
                        throw new ModelLoadException(source, $"the SentencePiece model has two unknown pieces (ids {unknownId} and {i}).");
                    unknownId = i;
                    break;
            }
        }
        if (unknownId < 0)
            throw new ModelLoadException(source, "the SentencePiece model has no unknown piece (<unk>).");

        int[]? bytePieces = null;
        if (trainer.ByteFallback)
        {
            bytePieces = new int[256];
            var byId = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < count; i++)
            {
                if (proto.Pieces[i].Type == ModelProto.Types.SentencePiece.Types.Type.Byte)
                    byId.TryAdd(pieces[i], i);
            }
            for (int b = 0; b < 256; b++)
            {
                string name = $"<0x{b:X2}>";
                bytePieces[b] = byId.TryGetValue(name, out int id) ? id
                    : throw new ModelLoadException(source, $"the SentencePiece model uses byte fallback but has no piece {name}.");
            }
        }

        NormalizerSpec spec = proto.NormalizerSpec ?? new NormalizerSpec();
        PrecompiledCharsMap? charsMap = spec.PrecompiledCharsmap.IsEmpty ? null : PrecompiledCharsMap.Parse(spec.PrecompiledCharsmap.Span, source);
        var normalizer = new SentencePieceNormalizer(charsMap, userDefined, spec.AddDummyPrefix, spec.RemoveExtraWhitespaces,
            spec.EscapeWhitespaces, trainer.TreatWhitespaceAsSuffix);
        var encoder = new UnigramEncoder(trie, scores, userDefinedFlags, unusedFlags, unknownId, minScore, maxScore);
        return new SentencePieceModel(source, pieces, normalizer, encoder, bytePieces, unknownId,
            IdOf(trainer.EosId, "</s>"), IdOf(trainer.PadId, "<pad>"));

        int IdOf(int configured, string fallbackPiece)
        {
            if (configured >= 0 && configured < count)
                return configured;
            return Array.IndexOf(pieces, fallbackPiece);
        }
    }
}
