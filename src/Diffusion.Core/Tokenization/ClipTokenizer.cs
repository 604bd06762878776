using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Diffusion.Core.Tokenization;

/// <summary>
/// The CLIP byte-level BPE tokenizer of Stable Diffusion's text encoders. It gives the ids of OpenAI CLIP's
/// <c>SimpleTokenizer</c> (clip/simple_tokenizer.py, with ftfy installed) and of Hugging Face's
/// <c>CLIPTokenizer</c>: ftfy's <c>fix_text</c>, HTML unescaping, whitespace folding, lower-casing, CLIP's
/// word pattern, then BPE over vocab.json and merges.txt.
/// </summary>
/// <remarks>
/// <para>Not reproduced: ftfy's heuristic mojibake repair (<c>fix_encoding</c>, e.g. "cafÃ©" → "café"); such
/// text is tokenized as written. Character properties come from .NET's Unicode tables, which may be newer than
/// Python's for recently added characters.</para>
/// <para>OpenAI's and Hugging Face's cleanups differ on some HTML references (see <see cref="ClipTextCleanup"/>);
/// OpenAI's is the default, <see cref="ClipTokenizerOptions.Cleanup"/> picks.</para>
/// <para>Unicode normalization (NFC, and NFKC for full-width forms) uses the platform's ICU: in .NET's
/// globalization-invariant mode it does nothing, and text that is not already NFC may then tokenize differently.</para>
/// <para>Encoding is thread-safe. <see cref="AddToken"/> may run alongside encoding; an encoding already under
/// way may not see the new token.</para>
/// </remarks>
public sealed class ClipTokenizer
{
    private const string VocabFileName = "vocab.json";
    private const string MergesFileName = "merges.txt";
    private const string TokenizerConfigFileName = "tokenizer_config.json";
    private const string SpecialTokensMapFileName = "special_tokens_map.json";

    // Hugging Face writes a huge number (VERY_LARGE_INTEGER) as model_max_length when a model sets none.
    private const int MaxPlausibleLength = 1_000_000;

    private readonly ClipBpeModel _model;
    private readonly ClipTextCleanup _cleanup;
    private readonly int _baseVocabularySize;
    private readonly object _addLock = new();
    private AddedToken[] _addedTokens = [];

    private ClipTokenizer(ClipBpeModel model, ClipTokenizerOptions options, string? optionsSource)
    {
        _model = model;
        _cleanup = options.Cleanup;
        _baseVocabularySize = model.TokensById.Length;
        if (options.MaxLength < 2)
            throw OptionError(optionsSource, nameof(ClipTokenizerOptions.MaxLength), $"must be at least 2 (start and end tokens), was {options.MaxLength}.");
        MaxLength = options.MaxLength;
        BosTokenId = SpecialTokenId(options.BosToken, nameof(ClipTokenizerOptions.BosToken), optionsSource);
        EosTokenId = SpecialTokenId(options.EosToken, nameof(ClipTokenizerOptions.EosToken), optionsSource);
        PadTokenId = SpecialTokenId(options.PadToken, nameof(ClipTokenizerOptions.PadToken), optionsSource);
    }

    /// <summary>Id of the token every sequence starts with (49406, <c>&lt;|startoftext|&gt;</c>, in CLIP's vocabulary).</summary>
    public int BosTokenId { get; }

    /// <summary>Id of the token after the prompt's tokens (49407, <c>&lt;|endoftext|&gt;</c>, in CLIP's vocabulary).</summary>
    public int EosTokenId { get; }

    /// <summary>Id of the padding token (49407 for SD 1.x, 0 = <c>"!"</c> for SD 2.x).</summary>
    public int PadTokenId { get; }

    /// <summary>Length of every encoded sequence, start and end tokens included (77 for Stable Diffusion).</summary>
    public int MaxLength { get; }

    /// <summary>Number of token ids: vocab.json's (49,408 for CLIP) plus the tokens added with <see cref="AddToken"/>.</summary>
    public int VocabularySize => _baseVocabularySize + Volatile.Read(ref _addedTokens).Length;

    /// <summary>
    /// Loads a Hugging Face tokenizer folder: vocab.json and merges.txt, and, when present, tokenizer_config.json
    /// (<c>model_max_length</c>, special tokens) and special_tokens_map.json (special tokens; it wins over
    /// tokenizer_config.json, as in Hugging Face). What neither names keeps its <see cref="ClipTokenizerOptions"/> default.
    /// </summary>
    /// <param name="tokenizerDirectory">The folder, e.g. a Stable Diffusion model's <c>tokenizer</c> folder.</param>
    /// <param name="cleanup">Whose text cleanup to reproduce (see <see cref="ClipTextCleanup"/>).</param>
    /// <exception cref="ModelLoadException">The folder or one of its files is missing, unreadable or malformed.</exception>
    public static ClipTokenizer FromDirectory(string tokenizerDirectory, ClipTextCleanup cleanup = ClipTextCleanup.OpenAIClip)
    {
        ArgumentNullException.ThrowIfNull(tokenizerDirectory);
        if (!Directory.Exists(tokenizerDirectory))
            throw new ModelLoadException(tokenizerDirectory, "the tokenizer folder does not exist.");
        string vocabPath = Path.Combine(tokenizerDirectory, VocabFileName);
        string mergesPath = Path.Combine(tokenizerDirectory, MergesFileName);
        string configPath = Path.Combine(tokenizerDirectory, TokenizerConfigFileName);
        string specialTokensPath = Path.Combine(tokenizerDirectory, SpecialTokensMapFileName);

        var options = ClipTokenizerOptions.Default with { Cleanup = cleanup };
        string? source = null;
        if (File.Exists(configPath))
        {
            options = ReadOptions(configPath, options, readMaxLength: true);
            source = configPath;
        }
        if (File.Exists(specialTokensPath))
        {
            options = ReadOptions(specialTokensPath, options, readMaxLength: false);
            source = source is null ? specialTokensPath : $"{configPath} / {specialTokensPath}";
        }
        return new ClipTokenizer(LoadModel(vocabPath, mergesPath), options, source);
    }

    /// <summary>Loads the tokenizer from a vocab.json and a merges.txt, with <paramref name="options"/> (or the defaults).</summary>
    /// <exception cref="ModelLoadException">A file is missing, unreadable or malformed.</exception>
    /// <exception cref="InvalidOptionException">An option is out of range or names a token the vocabulary lacks.</exception>
    public static ClipTokenizer FromFiles(string vocabPath, string mergesPath, ClipTokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(vocabPath);
        ArgumentNullException.ThrowIfNull(mergesPath);
        return new ClipTokenizer(LoadModel(vocabPath, mergesPath), options ?? ClipTokenizerOptions.Default, optionsSource: null);
    }

    /// <summary>
    /// Encodes <paramref name="text"/> into <see cref="MaxLength"/> ids: start token, the prompt's tokens (the first
    /// <see cref="MaxLength"/> − 2 when there are more, reported in the result), end token, padding.
    /// </summary>
    public TokenizedText Encode(string text)
    {
        var ids = new int[MaxLength];
        int tokenCount = EncodeCore(text, ids, out int dropped);
        return new TokenizedText(ids, tokenCount, dropped);
    }

    /// <summary>
    /// Encodes <paramref name="text"/> like <see cref="Encode(string)"/> into the first <see cref="MaxLength"/> ids of
    /// <paramref name="destination"/>, without allocating a result. Returns how many ids are not padding (start and
    /// end tokens included); <paramref name="truncated"/> tells whether prompt tokens were dropped to fit.
    /// </summary>
    /// <exception cref="InvalidOptionException"><paramref name="destination"/> is shorter than <see cref="MaxLength"/>.</exception>
    public int Encode(string text, Span<int> destination, out bool truncated)
    {
        int tokenCount = EncodeCore(text, destination, out int dropped);
        truncated = dropped > 0;
        return tokenCount;
    }

    /// <summary>
    /// The ids of <paramref name="text"/>'s tokens alone: no start, end or padding tokens and no length limit
    /// (for splitting long prompts into chunks of <see cref="MaxLength"/> − 2 tokens).
    /// </summary>
    public IReadOnlyList<int> EncodeWithoutSpecialTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new IdBuffer(64);
        try
        {
            Tokenize(text, ref ids);
            return ids.Items.ToArray();
        }
        finally
        {
            ids.Dispose();
        }
    }

    /// <summary>
    /// Turns ids back into text as OpenAI's <c>decode</c> does: tokens joined, bytes decoded as UTF-8 (invalid
    /// sequences become U+FFFD), each end-of-word mark becoming a space. Special tokens are kept as their text.
    /// </summary>
    /// <exception cref="InvalidOptionException">An id is outside the vocabulary.</exception>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var added = Volatile.Read(ref _addedTokens);
        var bytes = new List<byte>(ids.Length * 4);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (int id in ids)
        {
            string? token = id >= 0 && id < _model.TokensById.Length ? _model.TokensById[id] : null;
            if (token is not null)
            {
                foreach (char c in token)
                {
                    int b = ByteLevelAlphabet.ToByte(c);
                    if (b >= 0)
                    {
                        bytes.Add((byte)b);
                    }
                    else
                    {
                        // Not a byte-level symbol (only possible in a hand-edited vocabulary): keep the character.
                        int n = Encoding.UTF8.GetBytes([c], utf8);
                        for (int k = 0; k < n; k++)
                            bytes.Add(utf8[k]);
                    }
                }
            }
            else if (id >= _baseVocabularySize && id - _baseVocabularySize < added.Length)
            {
                // An added token is a whole word.
                bytes.AddRange(Encoding.UTF8.GetBytes(added[id - _baseVocabularySize].Text + "</w>"));
            }
            else
            {
                throw new InvalidOptionException("ids", $"id {id} is not a token of this tokenizer (0 to {VocabularySize - 1}).");
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray()).Replace("</w>", " ", StringComparison.Ordinal);
    }

    /// <summary>
    /// Adds a token (for textual inversion) and returns its id, the next one after the vocabulary and the tokens
    /// added before. Wherever the cleaned prompt contains the token's cleaned text, it is encoded as this id;
    /// the text around it is tokenized as usual. Adding the same token again returns its id.
    /// </summary>
    /// <exception cref="InvalidOptionException">The token is empty after cleaning or already a vocabulary entry.</exception>
    public int AddToken(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        string cleaned = ClipTextCleaner.Clean(token, _cleanup);
        if (cleaned.Length == 0)
            throw new InvalidOptionException(nameof(token), $"\"{token}\" is empty once cleaned (whitespace and control characters are dropped).");
        if (_model.Vocabulary.TryGetValue(cleaned, out int existing))
            throw new InvalidOptionException(nameof(token), $"\"{cleaned}\" is already in the vocabulary as id {existing}.");
        lock (_addLock)
        {
            var current = _addedTokens;
            for (int k = 0; k < current.Length; k++)
            {
                if (string.Equals(current[k].Text, cleaned, StringComparison.Ordinal))
                    return current[k].Id;
            }
            var added = new AddedToken(cleaned, _baseVocabularySize + current.Length);
            Volatile.Write(ref _addedTokens, [.. current, added]);
            return added.Id;
        }
    }

    private int EncodeCore(string text, Span<int> destination, out int droppedTokenCount)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (destination.Length < MaxLength)
            throw new InvalidOptionException(nameof(destination), $"needs room for {MaxLength} ids, has {destination.Length}.");
        var ids = new IdBuffer(MaxLength);
        try
        {
            Tokenize(text, ref ids);
            int kept = Math.Min(ids.Count, MaxLength - 2);
            droppedTokenCount = ids.Count - kept;
            destination[0] = BosTokenId;
            ids.Items[..kept].CopyTo(destination[1..]);
            destination[kept + 1] = EosTokenId;
            destination[(kept + 2)..MaxLength].Fill(PadTokenId);
            return kept + 2;
        }
        finally
        {
            ids.Dispose();
        }
    }

    private void Tokenize(string text, ref IdBuffer ids)
    {
        char[] buffer = ArrayPool<char>.Shared.Rent(Math.Max(text.Length, 1));
        try
        {
            // Plain ASCII prompts (the usual case) are cleaned into a pooled buffer; others go through ftfy & co.
            ReadOnlySpan<char> cleaned = ClipTextCleaner.TryCleanPlainAscii(text, buffer, out int length)
                ? buffer.AsSpan(0, length)
                : ClipTextCleaner.Clean(text, _cleanup);
            TokenizeCleaned(cleaned, ref ids);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    private void TokenizeCleaned(ReadOnlySpan<char> cleaned, ref IdBuffer ids)
    {
        var added = Volatile.Read(ref _addedTokens);
        if (added.Length == 0)
        {
            TokenizeWords(cleaned, ref ids);
            return;
        }
        // Added tokens first (longest match at the leftmost place), ordinary words in between.
        int segmentStart = 0;
        for (int i = 0; i < cleaned.Length;)
        {
            var rest = cleaned[i..];
            int match = -1;
            for (int k = 0; k < added.Length; k++)
            {
                if (rest.StartsWith(added[k].Text, StringComparison.Ordinal) && (match < 0 || added[k].Text.Length > added[match].Text.Length))
                    match = k;
            }
            if (match < 0)
            {
                i++;
                continue;
            }
            TokenizeWords(cleaned[segmentStart..i], ref ids);
            ids.Add(added[match].Id);
            i += added[match].Text.Length;
            segmentStart = i;
        }
        TokenizeWords(cleaned[segmentStart..], ref ids);
    }

    private void TokenizeWords(ReadOnlySpan<char> cleaned, ref IdBuffer ids)
    {
        int position = 0;
        while (ClipPreTokenizer.NextWord(cleaned, ref position, out int start, out int length))
            _model.AppendWordIds(cleaned.Slice(start, length), ref ids);
    }

    private int SpecialTokenId(string token, string optionName, string? optionsSource)
    {
        if (token is not null && _model.Vocabulary.TryGetValue(token, out int id))
            return id;
        throw OptionError(optionsSource, optionName, $"\"{token}\" is not in the vocabulary.");
    }

    // An option read from a file is that file's fault; one passed in code is the caller's.
    private static DiffusionException OptionError(string? optionsSource, string optionName, string message) =>
        optionsSource is null
            ? new InvalidOptionException(optionName, message)
            : new ModelLoadException(optionsSource, $"{optionName} {message}");

    private static ClipBpeModel LoadModel(string vocabPath, string mergesPath)
    {
        if (!File.Exists(vocabPath))
            throw new ModelLoadException(vocabPath, "the tokenizer vocabulary file does not exist.");
        if (!File.Exists(mergesPath))
            throw new ModelLoadException(mergesPath, "the tokenizer merges file does not exist.");
        return ClipBpeModel.Load(vocabPath, mergesPath);
    }

    // Reads bos_token / eos_token / pad_token (a string, or an AddedToken object with "content") and, from
    // tokenizer_config.json, model_max_length.
    private static ClipTokenizerOptions ReadOptions(string path, ClipTokenizerOptions options, bool readMaxLength)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException(path, "expected a JSON object.");
            options = options with
            {
                BosToken = TokenSetting(root, "bos_token", path) ?? options.BosToken,
                EosToken = TokenSetting(root, "eos_token", path) ?? options.EosToken,
                PadToken = TokenSetting(root, "pad_token", path) ?? options.PadToken,
            };
            if (readMaxLength && root.TryGetProperty("model_max_length", out var maxLength) && maxLength.ValueKind == JsonValueKind.Number)
            {
                if (!maxLength.TryGetDouble(out double value) || value != Math.Floor(value) || value < 2)
                    throw new ModelLoadException(path, $"model_max_length must be an integer of at least 2, was {maxLength.GetRawText()}.");
                if (value <= MaxPlausibleLength)
                    options = options with { MaxLength = (int)value };
            }
            return options;
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(path, $"not valid JSON: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException(path, $"cannot read the file: {e.Message}", e);
        }
    }

    private static string? TokenSetting(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind == JsonValueKind.String)
            return value.GetString();
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            return content.GetString();
        throw new ModelLoadException(path, $"{name} must be a string or an object with \"content\", was {value.GetRawText()}.");
    }

    private sealed record AddedToken(string Text, int Id);
}
