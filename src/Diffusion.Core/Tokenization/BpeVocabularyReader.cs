using System.Text;
using System.Text.Json;

namespace Diffusion.Core.Tokenization;

/// <summary>Reads Hugging Face's <c>vocab.json</c> (token → id) and <c>merges.txt</c> (ranked pairs) files.</summary>
internal static class BpeVocabularyReader
{
    /// <summary>
    /// How many merge lines CLIP reads: lines 1 to 48,894 after the "#version" header
    /// (<c>[1:49152-256-2+1]</c> in OpenAI's and Hugging Face's code). Lines past it are ignored there too.
    /// </summary>
    public const int ClipMergeCount = 49152 - 256 - 2;

    /// <summary>Reads <paramref name="path"/> as one JSON object of token → id, in whatever key order.</summary>
    public static Dictionary<string, int> ReadVocabulary(string path)
    {
        byte[] file = ReadAllBytes(path);
        var json = WithoutByteOrderMark(file);
        var vocabulary = new Dictionary<string, int>(capacity: 50_000, StringComparer.Ordinal);
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new ModelLoadException(path, "expected a JSON object of token → id.");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string token = reader.GetString()!;
                if (!reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int id) || id < 0)
                    throw new ModelLoadException(path, $"the id of token \"{token}\" is not a non-negative integer.");
                vocabulary[token] = id;
            }
            if (reader.TokenType != JsonTokenType.EndObject)
                throw new ModelLoadException(path, "expected a JSON object of token → id.");
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(path, $"not valid JSON: {e.Message}", e);
        }
        if (vocabulary.Count == 0)
            throw new ModelLoadException(path, "the vocabulary is empty.");
        return vocabulary;
    }

    /// <summary>
    /// Reads the ranked merge pairs of <paramref name="path"/>: the first line (the "#version" header) is
    /// skipped as CLIP does, then each line is "left right". Returns the pairs in rank order.
    /// </summary>
    public static List<(string Left, string Right)> ReadMerges(string path)
    {
        byte[] file = ReadAllBytes(path);
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(WithoutByteOrderMark(file));
        }
        catch (DecoderFallbackException e)
        {
            throw new ModelLoadException(path, "not valid UTF-8.", e);
        }
        var merges = new List<(string, string)>(ClipMergeCount);
        int lineNumber = 0;
        // Python's read().strip().split("\n"), then each line's split() on whitespace.
        var remaining = text.AsSpan().Trim();
        while (!remaining.IsEmpty || lineNumber == 0)
        {
            int newline = remaining.IndexOf('\n');
            var line = (newline < 0 ? remaining : remaining[..newline]).Trim();
            remaining = newline < 0 ? ReadOnlySpan<char>.Empty : remaining[(newline + 1)..];
            lineNumber++;
            if (lineNumber == 1)
                continue; // "#version: 0.2"
            if (merges.Count == ClipMergeCount)
                break;
            int space = line.IndexOfAny(' ', '\t');
            var right = space < 0 ? ReadOnlySpan<char>.Empty : line[(space + 1)..].TrimStart();
            if (space <= 0 || right.IsEmpty || right.IndexOfAny(' ', '\t') >= 0)
                throw new ModelLoadException(path, $"line {lineNumber} is not a pair \"left right\": \"{line.ToString()}\".");
            merges.Add((line[..space].ToString(), right.ToString()));
        }
        // With no merges, BPE splits every word into single characters: a silently wrong tokenizer, never CLIP's.
        if (merges.Count == 0)
            throw new ModelLoadException(path, "holds no merge pairs after its \"#version\" line; a BPE tokenizer needs its merges (CLIP's file has 48,894).");
        return merges;
    }

    // A UTF-8 byte order mark is tolerated.
    private static ReadOnlySpan<byte> WithoutByteOrderMark(byte[] bytes) =>
        bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes.AsSpan(3) : bytes;

    private static byte[] ReadAllBytes(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ModelLoadException(path, $"cannot read the file: {e.Message}", e);
        }
    }
}
