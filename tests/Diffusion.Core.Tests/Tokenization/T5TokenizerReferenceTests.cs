using System.Text.Json;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>
/// SentencePieceModel / T5Tokenizer ids against Debian's python3-sentencepiece 0.1.97 (the reference implementation),
/// from TestData/t5-tokenizer/t5_reference.json (tools/reference-data/t5-tokenizer): 414 prompts on a T5-style model
/// (nmt_nfkc, dummy prefix, whitespace folding, no byte fallback) and on a variant model (identity normalization,
/// byte fallback, user-defined symbols, whitespace kept).
/// </summary>
public sealed class T5TokenizerReferenceTests
{
    private static readonly Lazy<JsonDocument> s_reference = new(() =>
        JsonDocument.Parse(File.ReadAllText(PathOf("t5_reference.json"))));

    internal static string PathOf(string file) => Path.Combine(AppContext.BaseDirectory, "TestData", "t5-tokenizer", file);

    private static readonly Lazy<SentencePieceModel> s_t5 = new(() => SentencePieceModel.FromFile(PathOf("spiece.model")));
    private static readonly Lazy<SentencePieceModel> s_variant = new(() => SentencePieceModel.FromFile(PathOf("variant.model")));

    private static IEnumerable<(string Prompt, int[] Ids)> Cases(string model)
    {
        foreach (JsonElement c in s_reference.Value.RootElement.GetProperty("models").GetProperty(model).EnumerateArray())
            yield return (c.GetProperty("prompt").GetString()!, c.GetProperty("ids").EnumerateArray().Select(v => v.GetInt32()).ToArray());
    }

    [Theory]
    [InlineData("spiece")]
    [InlineData("variant")]
    public void Every_reference_prompt_gives_sentencepieces_ids(string model)
    {
        SentencePieceModel tokenizer = model == "spiece" ? s_t5.Value : s_variant.Value;
        var failures = new List<string>();
        int count = 0;
        foreach ((string prompt, int[] expected) in Cases(model))
        {
            count++;
            int[] actual = tokenizer.Encode(prompt);
            if (!actual.SequenceEqual(expected))
                failures.Add($"{JsonSerializer.Serialize(prompt)[..Math.Min(60, JsonSerializer.Serialize(prompt).Length)]}: expected [{string.Join(' ', expected.Take(20))}], got [{string.Join(' ', actual.Take(20))}]");
        }
        Assert.True(count >= 400, $"only {count} reference prompts");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} prompts differ:\n{string.Join('\n', failures.Take(15))}");
    }

    [Fact]
    public void Reference_covers_what_the_issue_names()
    {
        string[] prompts = Cases("spiece").Select(c => c.Prompt).ToArray();
        Assert.Contains(prompts, p => p.Any(ch => ch is >= 'À' and <= 'ÿ'));          // accents
        Assert.Contains(prompts, p => p.Contains('猫'));                                // CJK
        Assert.Contains(prompts, p => p.Contains("🐱", StringComparison.Ordinal));     // emoji
        Assert.Contains(prompts, p => p.Contains("1234567890", StringComparison.Ordinal)); // numbers
        Assert.Contains(prompts, p => s_t5.Value.Encode(p).Length > T5Tokenizer.FluxMaxSequenceLength); // long
        Assert.Contains(Cases("spiece"), c => c.Ids.Contains(s_t5.Value.UnknownId));  // characters outside the vocabulary
        Assert.Contains(Cases("variant"), c => c.Ids.Any(id => s_variant.Value.PieceText(id).StartsWith("<0x", StringComparison.Ordinal))); // byte fallback
    }
}
