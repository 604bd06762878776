using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Diffusion.Core.Metadata;

/// <summary>
/// The settings of one generated image in AUTOMATIC1111's "infotext" form, the <c>parameters</c> text that web UIs,
/// image browsers and model sites read from a PNG: the prompt, a <c>Negative prompt:</c> line, then one line of
/// <c>Key: value</c> pairs (<c>Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: …</c>).
/// <see cref="Format"/> writes exactly A1111's layout and quoting; <see cref="Parse"/> reads it back (A1111's own parser
/// rules), so an image made here opens in those tools and an A1111 image's settings can be re-used here.
/// </summary>
public sealed record GenerationParameters
{
    /// <summary>Longest infotext <see cref="Parse"/> reads (A1111 prompts are long, but not this long).</summary>
    public const int MaxLength = 1 << 20;

    /// <summary>The prompt (may span lines).</summary>
    public string Prompt { get; init; } = string.Empty;

    /// <summary>The negative prompt; empty writes no <c>Negative prompt:</c> line.</summary>
    public string NegativePrompt { get; init; } = string.Empty;

    /// <summary>
    /// The <c>Key: value</c> pairs in order (<see cref="GenerationParameterKeys"/> names the usual ones). A <c>Size</c> value is
    /// <c>WIDTHxHEIGHT</c>. Keys are unique; values are unquoted text.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fields { get; init; } = [];

    /// <summary>The value of <paramref name="key"/>, or null.</summary>
    public string? this[string key] => Fields.FirstOrDefault(f => string.Equals(f.Key, key, StringComparison.Ordinal)).Value;

    /// <summary>The value of <paramref name="key"/> as an integer, or null when absent; a value that is not one is an error naming the key.</summary>
    public long? GetInteger(string key) => this[key] is not { } text ? null
        : long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) ? value
        : throw new InvalidOptionException(key, $"'{text}' is not a whole number.");

    /// <summary>The value of <paramref name="key"/> as an unsigned integer (seeds), or null when absent.</summary>
    public ulong? GetUnsigned(string key) => this[key] is not { } text ? null
        : ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong value) ? value
        : throw new InvalidOptionException(key, $"'{text}' is not a whole number ≥ 0.");

    /// <summary>The value of <paramref name="key"/> as a number, or null when absent.</summary>
    public double? GetNumber(string key) => this[key] is not { } text ? null
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value) ? value
        : throw new InvalidOptionException(key, $"'{text}' is not a number.");

    /// <summary>The <c>Size</c> field as width and height, or null when absent.</summary>
    public (int Width, int Height)? Size
    {
        get
        {
            if (this[GenerationParameterKeys.Size] is not { } text)
                return null;
            int x = text.IndexOf('x', StringComparison.Ordinal);
            if (x > 0 && int.TryParse(text.AsSpan(0, x), NumberStyles.None, CultureInfo.InvariantCulture, out int width)
                && int.TryParse(text.AsSpan(x + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int height))
                return (width, height);
            throw new InvalidOptionException(GenerationParameterKeys.Size, $"'{text}' is not WIDTHxHEIGHT.");
        }
    }

    /// <summary>A copy with <paramref name="key"/> set to <paramref name="value"/> (replacing it in place, else appended); null removes it.</summary>
    public GenerationParameters With(string key, string? value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var fields = Fields.ToList();
        int index = fields.FindIndex(f => string.Equals(f.Key, key, StringComparison.Ordinal));
        if (value is null)
        {
            if (index >= 0)
                fields.RemoveAt(index);
        }
        else if (index >= 0)
            fields[index] = new(key, value);
        else
            fields.Add(new(key, value));
        return this with { Fields = fields };
    }

    /// <summary>The infotext, as A1111 writes it (values with a comma, colon or line break are JSON-quoted).</summary>
    public string Format()
    {
        var text = new StringBuilder(Prompt);
        if (NegativePrompt.Length > 0)
            text.Append("\nNegative prompt: ").Append(NegativePrompt);
        if (Fields.Count > 0)
        {
            text.Append('\n');
            text.AppendJoin(", ", Fields.Select(f => f.Key == f.Value ? f.Key : $"{f.Key}: {Quote(f.Value)}"));
        }
        return text.ToString();
    }

    /// <inheritdoc />
    public override string ToString() => Format();

    /// <summary>Reads an infotext with A1111's rules: the last line holds the settings when it has at least three <c>Key: value</c> pairs.</summary>
    /// <exception cref="InvalidOptionException">The text is longer than <see cref="MaxLength"/> or a quoted value is not valid JSON.</exception>
    public static GenerationParameters Parse(string text) => GenerationParametersParser.Parse(text);

    /// <summary>
    /// A1111's <c>quote</c>: plain when the value has no comma, colon or line break, else a JSON string (non-ASCII kept).
    /// One addition: a value that starts with a double quote is quoted too, since A1111's parser would otherwise read
    /// it as a quoted string and drop its quotes (A1111 itself loses such values; any A1111 reader reads ours right).
    /// </summary>
    internal static string Quote(string value) =>
        value.AsSpan().IndexOfAny(",:\n") < 0 && !value.StartsWith('"') ? value : JsonSerializer.Serialize(value, QuoteOptions);

    private static readonly JsonSerializerOptions QuoteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
