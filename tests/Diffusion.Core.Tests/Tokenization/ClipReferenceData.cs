using System.Text.Json;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>
/// TestData/tokenizer/clip_reference.json: OpenAI CLIP's SimpleTokenizer (with ftfy 6.3.1) on varied prompts,
/// written by tools/reference-data/tokenizer/generate_clip_tokens.py.
/// </summary>
internal static class ClipReferenceData
{
    private static readonly Lazy<IReadOnlyList<ClipReferenceCase>> s_cases = new(() => [.. Load("cases"), .. Load("mojibake_cases")]);

    /// <summary>
    /// The prompts the tokenizer must match exactly: the general cases, then those whose text ftfy's mojibake repair
    /// (fix_encoding) changes.
    /// </summary>
    public static IReadOnlyList<ClipReferenceCase> Cases => s_cases.Value;

    /// <summary>Case indices for [Theory] data (indices serialize cleanly; prompts with control characters may not).</summary>
    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Cases.Count; i++)
            data.Add(i);
        return data;
    }

    private static IReadOnlyList<ClipReferenceCase> Load(string key)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "TestData", "tokenizer", "clip_reference.json");
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var cases = new List<ClipReferenceCase>();
        foreach (var item in document.RootElement.GetProperty(key).EnumerateArray())
        {
            var ids = new List<int>();
            foreach (var id in item.GetProperty("ids").EnumerateArray())
                ids.Add(id.GetInt32());
            string cleaned = item.GetProperty("cleaned").GetString()!;
            string hfCleaned = cleaned;
            var hfIds = ids;
            if (item.TryGetProperty("hf_cleaned", out var hfCleanedElement))
            {
                hfCleaned = hfCleanedElement.GetString()!;
                hfIds = [];
                foreach (var id in item.GetProperty("hf_ids").EnumerateArray())
                    hfIds.Add(id.GetInt32());
            }
            cases.Add(new ClipReferenceCase(item.GetProperty("prompt").GetString()!, cleaned, ids.ToArray(), hfCleaned, hfIds.ToArray()));
        }
        return cases;
    }
}

/// <summary>
/// One reference prompt: its text, OpenAI CLIP's cleaned text and ids (no start/end token, no padding), and the
/// same with Hugging Face CLIPTokenizer's cleanup (equal to OpenAI's for most prompts).
/// </summary>
internal sealed record ClipReferenceCase(string Prompt, string Cleaned, int[] Ids, string HuggingFaceCleaned, int[] HuggingFaceIds);
